/* Unit tests for kubeconfig parsing (src/kube/kubeconfig.c, kyaml.c, kubeexec.c).
 * Pure: temp files and small exec plugins written as shell scripts. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/kube_internal.h"
#include "kube/kubeconfig.h"
#include "testutil.h"

struct fx {
	char *dir;
	char path[PATH_MAX];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = hsmca_test_tmpdir();
	assert_non_null(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/config", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hsmca_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static char *b64(const char *s)
{
	char *out = NULL;

	assert_int_equal(hsmca_b64_encode((const uint8_t *)s, strlen(s), &out, NULL), 0);
	return out;
}

#define CERT "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
#define KEY hsmca_test_key_pem("EC PRIVATE KEY") /* made at test time */
#define CA "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"

/* A two-context kubeconfig; `user_body` is the body of user "u1". */
static void write_config(struct fx *f, const char *cluster_extra, const char *user_body)
{
	char *ca = b64(CA);
	char buf[8192];

	snprintf(buf, sizeof(buf),
		 "apiVersion: v1\n"
		 "kind: Config\n"
		 "clusters:\n"
		 "- name: c1\n"
		 "  cluster:\n"
		 "    server: https://127.0.0.1:6443/\n"
		 "    certificate-authority-data: %s\n"
		 "%s"
		 "- name: c2\n"
		 "  cluster:\n"
		 "    server: https://other.example:443\n"
		 "users:\n"
		 "- name: u1\n"
		 "  user:\n"
		 "%s"
		 "- name: u2\n"
		 "  user:\n"
		 "    token: second-token\n"
		 "contexts:\n"
		 "- name: one\n"
		 "  context: {cluster: c1, user: u1, namespace: cozy-tenant}\n"
		 "- name: two\n"
		 "  context:\n"
		 "    cluster: c2\n"
		 "    user: u2\n"
		 "current-context: one\n",
		 ca, cluster_extra, user_body);
	free(ca);
	write_file(f->dir, "config", buf, 0600);
}

static void expect_fail(struct fx *f, const hsmca_kubeconfig_options *opt, const char *needle)
{
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	assert_int_equal(hsmca_kubeconfig_load(f->path, opt, &kc, &err), -1);
	assert_null(kc);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

/* ---- static credentials ----------------------------------------------- */

static void test_inline_credentials(void **state)
{
	struct fx *f = *state;
	char *cert = b64(CERT), *key = b64(KEY);
	char user[4096];
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	snprintf(user, sizeof(user),
		 "    client-certificate-data: %s\n    client-key-data: %s\n    token: abc.def\n",
		 cert, key);
	write_config(f, "    tls-server-name: kubernetes.default.svc\n", user);
	assert_int_equal(hsmca_kubeconfig_load(f->path, NULL, &kc, &err), 0);
	assert_string_equal(kc->context, "one");
	assert_string_equal(kc->cluster_name, "c1");
	assert_string_equal(kc->user_name, "u1");
	assert_string_equal(kc->namespace, "cozy-tenant");
	assert_string_equal(kc->server, "https://127.0.0.1:6443"); /* trailing '/' dropped */
	assert_string_equal(kc->tls_server_name, "kubernetes.default.svc");
	assert_int_equal(kc->ca_len, strlen(CA));
	assert_memory_equal(kc->ca_pem, CA, strlen(CA));
	assert_int_equal(kc->cert_len, strlen(CERT));
	assert_memory_equal(kc->cert_pem, CERT, strlen(CERT));
	assert_int_equal(kc->key_len, strlen(KEY));
	assert_memory_equal(kc->key_pem, KEY, strlen(KEY));
	assert_string_equal(kc->token, "abc.def");
	assert_null(kc->exec);
	assert_false(hsmca_kubeconfig_expiring(kc, time(NULL), 60));
	assert_int_equal(hsmca_kubeconfig_refresh(kc, &err), 0); /* no plugin: no-op */
	hsmca_kubeconfig_free(kc);
	free(cert);
	free(key);
}

static void test_context_override(void **state)
{
	struct fx *f = *state;
	hsmca_kubeconfig_options opt = { .context = "two" };
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	write_config(f, "", "    token: t1\n");
	assert_int_equal(hsmca_kubeconfig_load(f->path, &opt, &kc, &err), 0);
	assert_string_equal(kc->server, "https://other.example:443");
	assert_string_equal(kc->token, "second-token");
	assert_null(kc->ca_pem); /* system trust store */
	assert_null(kc->namespace);
	hsmca_kubeconfig_free(kc);

	opt.context = "three";
	expect_fail(f, &opt, "context \"three\" not found");
}

static void test_file_variants(void **state)
{
	struct fx *f = *state;
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };
	char conf[2048];

	mkdir(f->dir, 0700);
	write_file(f->dir, "ca.pem", CA, 0644);
	write_file(f->dir, "c.pem", CERT, 0644);
	write_file(f->dir, "k.pem", KEY, 0600);
	write_file(f->dir, "token", "  tok-from-file\n\n", 0600);
	snprintf(conf, sizeof(conf),
		 "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
		 "    certificate-authority: ca.pem\n    insecure-skip-tls-verify: false\n"
		 "users:\n- name: u\n  user:\n    client-certificate: c.pem\n"
		 "    client-key: %s/k.pem\n    tokenFile: token\n"
		 "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		 "current-context: x\n", f->dir);
	write_file(f->dir, "config", conf, 0600);
	assert_int_equal(hsmca_kubeconfig_load(f->path, NULL, &kc, &err), 0);
	assert_memory_equal(kc->ca_pem, CA, strlen(CA));
	assert_memory_equal(kc->cert_pem, CERT, strlen(CERT));
	assert_memory_equal(kc->key_pem, KEY, strlen(KEY));
	assert_string_equal(kc->token, "tok-from-file");
	hsmca_kubeconfig_free(kc);

	/* The same text in memory without a base directory cannot resolve ca.pem. */
	assert_int_equal(hsmca_kubeconfig_parse(conf, strlen(conf), "mem", NULL, NULL, &kc, &err),
			 -1);
	assert_non_null(strstr(err.msg, "relative path \"ca.pem\""));
}

/* ---- refusals ---------------------------------------------------------- */

static void test_refusals(void **state)
{
	struct fx *f = *state;
	char *cert = b64(CERT), *key = b64(KEY);
	char user[4096];

	write_config(f, "    insecure-skip-tls-verify: true\n", "    token: t\n");
	expect_fail(f, NULL, "insecure-skip-tls-verify");
	write_config(f, "    insecure-skip-tls-verify: yes\n", "    token: t\n");
	expect_fail(f, NULL, "insecure-skip-tls-verify");
	write_config(f, "    proxy-url: http://proxy:3128\n", "    token: t\n");
	expect_fail(f, NULL, "proxy-url is not supported");
	write_config(f, "    certificate-authority: /nonexistent/ca.pem\n", "    token: t\n");
	expect_fail(f, NULL, "both certificate-authority-data and certificate-authority");

	snprintf(user, sizeof(user), "    client-certificate-data: %s\n", cert);
	write_config(f, "", user);
	expect_fail(f, NULL, "client certificate without its key");
	snprintf(user, sizeof(user), "    client-key-data: %s\n", key);
	write_config(f, "", user);
	expect_fail(f, NULL, "client key without its certificate");
	write_config(f, "", "    client-key-data: '!!notbase64'\n    client-certificate-data: QQ==\n");
	expect_fail(f, NULL, "not valid base64");
	write_config(f, "", "    auth-provider: {name: oidc}\n");
	expect_fail(f, NULL, "auth-provider is not supported");
	write_config(f, "", "    username: admin\n    password: secret\n");
	expect_fail(f, NULL, "username is not supported");
	write_config(f, "", "    token: t\n    as: someone\n");
	expect_fail(f, NULL, "as is not supported");
	write_config(f, "", "    token: t\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: x}\n");
	expect_fail(f, NULL, "both exec and a static credential");
	write_config(f, "", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x, "
			    "interactiveMode: Always}\n");
	expect_fail(f, NULL, "interactiveMode Always");
	write_config(f, "", "    exec: {apiVersion: v1, command: x}\n");
	expect_fail(f, NULL, "apiVersion must be");
	free(cert);
	free(key);
}

static void test_server_must_be_https(void **state)
{
	struct fx *f = *state;
	const char *conf = "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:8080'}\n"
			   "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n";

	write_file(f->dir, "config", conf, 0600);
	expect_fail(f, NULL, "is not https://");
	write_file(f->dir, "config", "clusters: []\ncontexts: []\n", 0600);
	expect_fail(f, NULL, "no current-context");
	write_file(f->dir, "config",
		   "clusters: []\ncontexts:\n- name: x\n  context: {cluster: gone}\ncurrent-context: x\n",
		   0600);
	expect_fail(f, NULL, "cluster \"gone\" not found");
	write_file(f->dir, "config",
		   "clusters:\n- name: c\n  cluster: {server: 'https://h'}\ncontexts:\n- name: x\n"
		   "  context: {cluster: c, user: nobody}\ncurrent-context: x\n", 0600);
	expect_fail(f, NULL, "user \"nobody\" not found");
}

static void test_yaml_errors(void **state)
{
	struct fx *f = *state;

	write_file(f->dir, "config", "current-context: a\ncurrent-context: b\n", 0600);
	expect_fail(f, NULL, "config:2: duplicate key 'current-context'");
	write_file(f->dir, "config", "x: &a {k: v}\ny: *a\n", 0600);
	expect_fail(f, NULL, "aliases are not accepted");
	write_file(f->dir, "config", "- a\n- b\n", 0600);
	expect_fail(f, NULL, "not a kubeconfig");
	write_file(f->dir, "config", "a: [1, 2\n", 0600);
	expect_fail(f, NULL, "config:");
	write_file(f->dir, "config", "a: 1\n---\nb: 2\n", 0600);
	expect_fail(f, NULL, "more than one document");
	write_file(f->dir, "config", "", 0600);
	expect_fail(f, NULL, "empty document");
}

/* ---- exec plugins ------------------------------------------------------ */

/* A plugin that checks what it was given and answers with a token built
 * from its arguments, its env and a call counter. */
static const char plugin_token[] =
	"#!/bin/sh\n"
	"case \"$KUBERNETES_EXEC_INFO\" in\n"
	"  *'\"kind\":\"ExecCredential\"'*'\"interactive\":false'*) ;;\n"
	"  *) echo \"bad exec info: $KUBERNETES_EXEC_INFO\" >&2; exit 9;;\n"
	"esac\n"
	"case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"https://127.0.0.1:6443\"'*) ci=ci;; *) ci=noci;; esac\n"
	"n=$(cat \"$(dirname \"$0\")/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$(dirname \"$0\")/count\"\n"
	"printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
	"\"status\":{\"token\":\"%s-%s-%s-%s\",\"expirationTimestamp\":\"2099-01-02T03:04:05.123Z\"}}\\n' "
	"\"$1\" \"$PLUGIN_ENV\" \"$ci\" \"$n\"\n";

static void test_exec_token(void **state)
{
	struct fx *f = *state;
	hsmca_kubeconfig *kc = NULL;
	hsmca_kubeconfig_options opt = { 0 };
	hsmca_error err = { 0 };
	char cwd[PATH_MAX];

	mkdir(f->dir, 0700);
	write_file(f->dir, "plugin.sh", plugin_token, 0700);
	write_config(f, "",
		     "    exec:\n"
		     "      apiVersion: client.authentication.k8s.io/v1\n"
		     "      command: ./plugin.sh\n"
		     "      args: [first-arg]\n"
		     "      env: [{name: PLUGIN_ENV, value: from-env}]\n"
		     "      provideClusterInfo: true\n"
		     "      interactiveMode: Never\n");
	/* The relative command resolves against the kubeconfig's directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(hsmca_kubeconfig_load(f->path, NULL, &kc, &err), 0);
	assert_string_equal(kc->token, "first-arg-from-env-ci-1");
	assert_int_equal(kc->expiry, 4071006245); /* 2099-01-02T03:04:05Z */
	assert_false(hsmca_kubeconfig_expiring(kc, time(NULL), 60));
	assert_true(hsmca_kubeconfig_expiring(kc, 4071006245 - 30, 60));
	assert_int_equal(hsmca_kubeconfig_refresh(kc, &err), 0);
	assert_string_equal(kc->token, "first-arg-from-env-ci-2");
	hsmca_kubeconfig_free(kc);
	assert_int_equal(chdir(cwd), 0);

	/* defer_exec: nothing runs until refresh. */
	opt.defer_exec = true;
	assert_int_equal(hsmca_kubeconfig_load(f->path, &opt, &kc, &err), 0);
	assert_null(kc->token);
	assert_int_equal(hsmca_kubeconfig_refresh(kc, &err), 0);
	assert_string_equal(kc->token, "first-arg-from-env-ci-3");
	hsmca_kubeconfig_free(kc);

	opt.defer_exec = false;
	opt.no_exec = true;
	expect_fail(f, &opt, "needs exec plugin ./plugin.sh");
}

static void test_exec_client_cert(void **state)
{
	struct fx *f = *state;
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	const char *pk = hsmca_test_key_pem("PRIVATE KEY");
	char script[4096], *q = script;

	/* The key as a JSON string: its newlines written as \n. */
	q += snprintf(q, sizeof(script), "#!/bin/sh\n"
			  "echo 'progress on stderr' >&2\n"
			  "printf '%%s' '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
			  "\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":"
			  "\"-----BEGIN CERTIFICATE-----\\nX\\n-----END CERTIFICATE-----\\n\","
			  "\"clientKeyData\":\"");
	for (; *pk; pk++) {
		assert_true(q + 3 < script + sizeof(script));
		if (*pk == '\n') {
			*q++ = '\\';
			*q++ = 'n';
		} else {
			*q++ = *pk;
		}
	}
	assert_true(q + 8 < script + sizeof(script));
	strcpy(q, "\"}}'\n");
	write_file(f->dir, "plugin.sh", script, 0700);
	write_config(f, "", "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
			    "      command: ./plugin.sh\n");
	assert_int_equal(hsmca_kubeconfig_load(f->path, NULL, &kc, &err), 0);
	assert_null(kc->token);
	assert_string_equal((char *)kc->cert_pem,
			    "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n");
	assert_string_equal((char *)kc->key_pem, hsmca_test_key_pem("PRIVATE KEY"));
	assert_int_equal(kc->expiry, 0);
	hsmca_kubeconfig_free(kc);
}

static void exec_case(struct fx *f, const char *script, const char *api, int timeout_ms,
		      const char *needle)
{
	hsmca_kubeconfig_options opt = { .exec_timeout_ms = timeout_ms };
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };
	char user[512];

	write_file(f->dir, "plugin.sh", script, 0700);
	snprintf(user, sizeof(user), "    exec:\n      apiVersion: %s\n      command: ./plugin.sh\n",
		 api);
	write_config(f, "", user);
	assert_int_equal(hsmca_kubeconfig_load(f->path, &opt, &kc, &err), -1);
	assert_null(kc);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err.msg, needle);
}

static void test_exec_failures(void **state)
{
	struct fx *f = *state;
	const char *v1 = "client.authentication.k8s.io/v1";
	struct timespec t0, t1;

	exec_case(f, "#!/bin/sh\necho 'first line' >&2\necho 'login expired' >&2\nexit 3\n", v1,
		  5000, "exited with status 3: login expired");
	exec_case(f, "#!/bin/sh\necho not json\n", v1, 5000, "not an ExecCredential");
	exec_case(f, "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
		     "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}'\n",
		  v1, 5000, "does not match");
	exec_case(f, "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
		     "\"kind\":\"ExecCredential\",\"status\":{}}'\n",
		  v1, 5000, "neither a token nor a client certificate");
	exec_case(f, "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
		     "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
		     "\"expirationTimestamp\":\"tomorrow\"}}'\n",
		  v1, 5000, "bad expirationTimestamp");
	exec_case(f, "#!/bin/sh\nhead -c 1100000 /dev/zero | tr '\\0' x\n", v1, 5000,
		  "output larger than");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	exec_case(f, "#!/bin/sh\nexec sleep 20\n", v1, 300, "no answer within 300 ms, killed");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	/* A command that does not exist, by PATH search. */
	write_config(f, "", "    exec: {apiVersion: client.authentication.k8s.io/v1, "
			    "command: hsmca-no-such-plugin-xyz}\n");
	expect_fail(f, NULL, "hsmca-no-such-plugin-xyz: cannot start it");
}

/* ---- helpers of the module ------------------------------------------- */

/* ---- writing ------------------------------------------------------------ */

static void test_write_round_trip(void **state)
{
	struct fx *f = *state;
	hsmca_kubeconfig_spec sp = { .name = "admin@prod-1", .user = "admin@prod-1",
				     .server = "https://10.0.0.1:6443", .tls_server_name = "kubernetes",
				     .ca_pem = CA, .crt_pem = CERT, .key_pem = KEY };
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };
	struct stat st;

	assert_int_equal(hsmca_kubeconfig_write(f->path, &sp, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(hsmca_kubeconfig_load(f->path, NULL, &kc, &err), 0);
	assert_string_equal(kc->context, "admin@prod-1");
	assert_string_equal(kc->server, "https://10.0.0.1:6443");
	assert_string_equal(kc->tls_server_name, "kubernetes");
	assert_memory_equal(kc->ca_pem, CA, strlen(CA));
	assert_memory_equal(kc->cert_pem, CERT, strlen(CERT));
	assert_int_equal(kc->key_len, strlen(KEY));
	assert_memory_equal(kc->key_pem, KEY, strlen(KEY));
	hsmca_kubeconfig_free(kc);
	/* Replacing our own one-context file is allowed (a rotation does it). */
	sp.crt_pem = CA;
	assert_int_equal(hsmca_kubeconfig_write(f->path, &sp, &err), 0);
	assert_int_equal(hsmca_kubeconfig_load(f->path, NULL, &kc, &err), 0);
	assert_memory_equal(kc->cert_pem, CA, strlen(CA));
	hsmca_kubeconfig_free(kc);
}

static void test_write_refusals(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *name, *server, *needle;
	} bad[] = {
		{ "a\"b", "https://h:1", "may hold only" },
		{ "x\ny", "https://h:1", "may hold only" },
		{ "", "https://h:1", "1 to 253" },
		{ "ok", "http://h:1", "https://" },
		{ "ok", "https://h:1/a b", "does not belong" },
		{ "ok", "https://h\":1", "does not belong" },
		{ "ok", "https://", "https://" },
	};
	hsmca_kubeconfig_spec sp = { .user = "u", .ca_pem = CA, .crt_pem = CERT, .key_pem = KEY };
	hsmca_error err = { 0 };
	char *text = NULL;
	size_t i, len = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp.name = bad[i].name;
		sp.server = bad[i].server;
		assert_int_equal(hsmca_kubeconfig_render(&sp, &text, &len, &err), -1);
		assert_null(text);
		if (!strstr(err.msg, bad[i].needle))
			fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err.msg, bad[i].needle);
	}
	sp.name = "ok";
	sp.server = "https://h:1";
	sp.key_pem = NULL;
	assert_int_equal(hsmca_kubeconfig_render(&sp, &text, &len, &err), -1);
	assert_non_null(strstr(err.msg, "required"));
	assert_int_equal(access(f->path, F_OK), -1); /* nothing written on refusal */
}

static void test_write_keeps_other_contexts(void **state)
{
	struct fx *f = *state;
	hsmca_kubeconfig_spec sp = { .name = "one", .user = "u", .server = "https://h:1",
				     .ca_pem = CA, .crt_pem = CERT, .key_pem = KEY };
	hsmca_error err = { 0 };
	struct stat before, after;

	write_config(f, "", "    token: t\n"); /* contexts "one" and "two" */
	assert_int_equal(stat(f->path, &before), 0);
	assert_int_equal(hsmca_kubeconfig_replace_ok(f->path, "one", &err), -1);
	assert_non_null(strstr(err.msg, "also holds context \"two\""));
	assert_int_equal(hsmca_kubeconfig_write(f->path, &sp, &err), -1);
	assert_int_equal(stat(f->path, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_size, after.st_size);
	/* A missing or empty file may be written. */
	assert_int_equal(hsmca_kubeconfig_replace_ok("/nonexistent/dir/x", "one", &err), 0);
	write_file(f->dir, "empty", "", 0600);
	snprintf(f->path, sizeof(f->path), "%s/empty", f->dir);
	assert_int_equal(hsmca_kubeconfig_replace_ok(f->path, "one", &err), 0);
}

static void test_base64_and_time(void **state)
{
	uint8_t *out = NULL;
	size_t len = 0;
	time_t t;
	char *enc = NULL;
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(hsmca_b64_decode("aGVs\nbG8=", 9, "x", &out, &len, &err), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(out, "hello", 5);
	free(out);
	assert_int_equal(hsmca_b64_decode("aGVsbG8=x", 9, "x", &out, &len, &err), -1);
	assert_int_equal(hsmca_b64_decode("aGVsbG8", 7, "x", &out, &len, &err), 0); /* unpadded */
	free(out);
	assert_int_equal(hsmca_b64_decode("a", 1, "x", &out, &len, &err), -1);
	assert_int_equal(hsmca_b64_encode((const uint8_t *)"hello", 5, &enc, &err), 0);
	assert_string_equal(enc, "aGVsbG8=");
	free(enc);
	assert_int_equal(hsmca_b64_encode((const uint8_t *)"", 0, &enc, &err), 0);
	assert_string_equal(enc, "");
	free(enc);

	assert_int_equal(kube_parse_rfc3339("2026-01-02T03:04:05Z", &t), 0);
	assert_int_equal(t, 1767323045);
	assert_int_equal(kube_parse_rfc3339("2026-01-02T05:04:05.5+02:00", &t), 0);
	assert_int_equal(t, 1767323045);
	assert_int_equal(kube_parse_rfc3339("2026-02-30T00:00:00Z", &t), -1);
	assert_int_equal(kube_parse_rfc3339("2026-01-02 03:04:05Z", &t), -1);
	assert_int_equal(kube_parse_rfc3339("2026-01-02T03:04:05", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inline_credentials, setup, teardown),
		cmocka_unit_test_setup_teardown(test_context_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_must_be_https, setup, teardown),
		cmocka_unit_test_setup_teardown(test_yaml_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_client_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_keeps_other_contexts, setup, teardown),
		cmocka_unit_test(test_base64_and_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
