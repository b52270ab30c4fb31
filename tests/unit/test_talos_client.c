/* Talos client against the Talos API double (tests/doubles/talos_double.py).
 *
 * The group setup starts the double (6 nodes) with /usr/bin/python3, waits
 * for its ready.json (bounded), and the group teardown stops it by PID
 * (SIGTERM, then SIGKILL); an atexit handler does the same if the test
 * program dies early, and the double exits by itself after 600 s anyway.
 *
 * Every test runs with a per-test teardown that releases what the test
 * registered with defer() (defer.h: a failed assertion leaks nothing) and
 * clears every node's faults (a failed test leaves no node down or failing
 * for the next one).  Timing: lower bounds are exact (a call that retries
 * until its deadline cannot return before it); upper bounds and the
 * deadlines calls must finish within are scaled by test_slow()
 * (slowdown.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "defer.h"
#include "slowdown.h"
#include "talos/mconfig.h"
#include "talos/talos.h"
#include "talos/yamldoc.h"
#include "testutil.h"

#define NNODES 6
#define DOUBLE_DEADLINE "600"

struct node {
	char name[16];
	char role[16];
	char endpoint[32];
};

static pid_t double_pid = -1;
static char *state_dir;
static char control[64];
static struct node nodes[NNODES];
static struct hsmca_talos_creds admin, reader;

/* ---- the double */

static void stop_double(void)
{
	int status, i;

	if (double_pid <= 0)
		return;
	kill(double_pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(double_pid, &status, WNOHANG) == double_pid) {
			double_pid = -1;
			return;
		}
		usleep(100 * 1000);
	}
	kill(double_pid, SIGKILL);
	waitpid(double_pid, &status, 0);
	double_pid = -1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start_double(void)
{
	const char *src = getenv("HSMCA_TEST_SRCDIR");
	char script[4096], ready[4096], logf[4096];
	struct json_object *j = NULL, *arr, *n;
	hsmca_error err = {0};
	double until;
	int fd, ret = -1;
	size_t i;

	if (!src)
		src = ".";
	snprintf(script, sizeof(script), "%s/tests/doubles/talos_double.py", src);
	snprintf(ready, sizeof(ready), "%s/ready.json", state_dir);
	snprintf(logf, sizeof(logf), "%s/double.log", state_dir);
	double_pid = fork();
	if (double_pid < 0)
		return -1;
	if (double_pid == 0) {
		fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/bin/python3", "python3", script, "--state-dir", state_dir, "--nodes",
		      "cp1:controlplane,cp2:controlplane,cp3:controlplane,w1:worker,w2:worker,"
		      "w3:worker",
		      "--kube-ca-doc", "cp3,w3", "--deadline", DOUBLE_DEADLINE, (char *)NULL);
		_exit(127);
	}
	atexit(stop_double);
	until = now_s() + 60 * test_slow();
	while (access(ready, R_OK) != 0) {
		int status;

		if (now_s() > until || waitpid(double_pid, &status, WNOHANG) == double_pid) {
			fprintf(stderr, "talos double did not become ready; see %s\n", logf);
			return -1;
		}
		usleep(100 * 1000);
	}
	j = json_object_from_file(ready);
	if (!j || !json_object_object_get_ex(j, "nodes", &arr) ||
	    json_object_array_length(arr) != NNODES)
		goto out;
	for (i = 0; i < NNODES; i++) {
		n = json_object_array_get_idx(arr, i);
		snprintf(nodes[i].name, sizeof(nodes[i].name), "%s",
			 json_object_get_string(json_object_object_get(n, "name")));
		snprintf(nodes[i].role, sizeof(nodes[i].role), "%s",
			 json_object_get_string(json_object_object_get(n, "role")));
		snprintf(nodes[i].endpoint, sizeof(nodes[i].endpoint), "127.0.0.1:%d",
			 json_object_get_int(json_object_object_get(n, "port")));
	}
	snprintf(control, sizeof(control), "%s",
		 json_object_get_string(json_object_object_get(j, "control")));
	if (hsmca_talos_creds_from_talosconfig(
		    json_object_get_string(json_object_object_get(j, "talosconfig")), NULL, &admin,
		    NULL, NULL, &err) != 0 ||
	    hsmca_talos_creds_from_talosconfig(
		    json_object_get_string(json_object_object_get(j, "talosconfig_reader")), NULL,
		    &reader, NULL, NULL, &err) != 0) {
		fprintf(stderr, "talosconfig: %s\n", err.msg);
		goto out;
	}
	ret = 0;
out:
	json_object_put(j);
	return ret;
}

static int setup(void **state)
{
	(void)state;
	/* The deadline of every client the tests do not set one for: a call
	 * that works ends long before it; set so that an HSMCA_TALOS_DEADLINE
	 * in the caller's environment cannot make the tests flaky. */
	setenv("HSMCA_TALOS_DEADLINE", "30", 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	state_dir = hsmca_test_tmpdir();
	if (!state_dir)
		return -1;
	return start_double();
}

static int teardown(void **state)
{
	(void)state;
	stop_double();
	hsmca_talos_creds_clear(&admin);
	hsmca_talos_creds_clear(&reader);
	if (state_dir && !getenv("HSMCA_KEEP_TMP"))
		hsmca_test_rmtree(state_dir);
	return 0;
}

/* ---- releasing what a test holds (defer.h) */

static void put_json_fn(void *p, size_t n)
{
	(void)n;
	json_object_put(p);
}

static void free_client_fn(void *p, size_t n)
{
	(void)n;
	hsmca_talos_client_free(p);
}

static void free_pkey_fn(void *p, size_t n)
{
	(void)n;
	EVP_PKEY_free(p);
}

static void free_x509_fn(void *p, size_t n)
{
	(void)n;
	X509_free(p);
}

static void clear_creds_fn(void *p, size_t n)
{
	(void)n;
	hsmca_talos_creds_clear(p);
	free(p);
}

/* ---- control endpoint */

struct body {
	char *p;
	size_t len;
};

static size_t collect(char *d, size_t s, size_t n, void *arg)
{
	struct body *b = arg;
	char *np = realloc(b->p, b->len + s * n + 1);

	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, d, s * n);
	b->len += s * n;
	b->p[b->len] = '\0';
	return s * n;
}

/* GET control + path: the parsed JSON, deferred (release() it or let the
 * teardown put it). */
static struct json_object *ctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *ctl(const char *fmt, ...)
{
	struct body b = {NULL, 0};
	char path[512], url[600];
	struct json_object *j;
	va_list ap;
	CURL *h = curl_easy_init();
	CURLcode rc;
	long code = 0;

	assert_non_null(h);
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	snprintf(url, sizeof(url), "%s%s", control, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, slow_ms(20000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	j = b.p && rc == CURLE_OK ? json_tokener_parse(b.p) : NULL;
	free(b.p);
	defer(put_json_fn, j);
	if (rc != CURLE_OK)
		fail_msg("control %s: %s", path, curl_easy_strerror(rc));
	if (code != 200)
		fail_msg("control %s: HTTP %ld", path, code);
	assert_non_null(j);
	return j;
}

/* Set faults on a node: fault("node=w1&down=1"). */
static void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fault(const char *fmt, ...)
{
	char q[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	release(ctl("/fault?%s", q));
}

static struct json_object *node_state(struct json_object *st, const char *name)
{
	struct json_object *arr = json_object_object_get(st, "nodes");
	size_t i;

	for (i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *n = json_object_array_get_idx(arr, i);

		if (strcmp(json_object_get_string(json_object_object_get(n, "name")), name) == 0)
			return n;
	}
	fail_msg("node %s not in state", name);
	return NULL;
}

static int config_version(const char *name)
{
	struct json_object *st = ctl("/state");
	int v = json_object_get_int(json_object_object_get(node_state(st, name), "config_version"));

	release(st);
	return v;
}

/* RPCs the double has served to `node` (any via) for `method` (the full
 * path) that ended with `code` ("OK", "UNAVAILABLE", ...). */
static int served(const char *node, const char *method, const char *code)
{
	struct json_object *reqs = ctl("/requests");
	size_t i;
	int n = 0;

	for (i = 0; i < json_object_array_length(reqs); i++) {
		struct json_object *r = json_object_array_get_idx(reqs, i);

		if (strcmp(json_object_get_string(json_object_object_get(r, "node")), node) == 0 &&
		    strcmp(json_object_get_string(json_object_object_get(r, "method")), method) ==
			    0 &&
		    strcmp(json_object_get_string(json_object_object_get(r, "code")), code) == 0)
			n++;
	}
	release(reqs);
	return n;
}

/* Per-test teardown: release what the test holds, then bring every node
 * back to health whatever the test did to it. */
static int reset_test(void **state)
{
	size_t i;

	(void)state;
	defer_run_all();
	for (i = 0; i < NNODES; i++)
		fault("node=%s&clear=1", nodes[i].name);
	defer_run_all();
	return 0;
}

/* ---- helpers */

static const struct node *find(const char *name)
{
	size_t i;

	for (i = 0; i < NNODES; i++) {
		if (strcmp(nodes[i].name, name) == 0)
			return &nodes[i];
	}
	fail_msg("no node %s", name);
	return NULL;
}

/* A client for a node, deferred. */
static hsmca_talos_client *client(const struct hsmca_talos_creds *c, const char *name)
{
	hsmca_talos_client *cl = NULL;
	hsmca_error err = {0};

	if (hsmca_talos_client_new(c, find(name)->endpoint, &cl, &err) != 0)
		fail_msg("client: %s", err.msg);
	return defer(free_client_fn, cl);
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("\"%s\" lacks \"%s\"", s, part);
}

static char *pem_of_x509(X509 *x)
{
	BIO *m = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *s;

	PEM_write_bio_X509(m, x);
	BIO_get_mem_ptr(m, &bm);
	s = strndup(bm->data, bm->length);
	BIO_free(m);
	return defer_free(s);
}

static char *pem_of_key(EVP_PKEY *k)
{
	BIO *m = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *s;

	PEM_write_bio_PrivateKey(m, k, NULL, NULL, 0, NULL, NULL);
	BIO_get_mem_ptr(m, &bm);
	s = strndup(bm->data, bm->length);
	BIO_free(m); /* a memory BIO's buffer is cleansed when freed */
	return defer_wipe(s, s ? strlen(s) : 0);
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *v)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A certificate for `key` (deferred): self-signed CA when issuer is NULL,
 * else a Talos admin-style client certificate (O=org, clientAuth). */
static X509 *make_cert(EVP_PKEY *key, const char *field, const char *value, X509 *issuer,
		       EVP_PKEY *issuer_key)
{
	static long serial = 1000;
	X509 *x = defer(free_x509_fn, X509_new());
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC, (const unsigned char *)value, -1, -1,
				   0);
	X509_set_subject_name(x, name);
	X509_NAME_free(name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509_gmtime_adj(X509_getm_notBefore(x), -300);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	if (issuer) {
		add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage, "clientAuth");
	} else {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
		add_ext(x, x, NID_subject_key_identifier, "hash");
	}
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

/* A new CA and an os:admin client certificate it signed, as talos creds
 * that trust the cluster's machine CA for the server side.  Deferred. */
struct newca {
	char *ca_pem; /* deferred on its own */
	struct hsmca_talos_creds *creds;
};

static void make_newca(struct newca *nc, const char *role)
{
	EVP_PKEY *cak = defer(free_pkey_fn, EVP_EC_gen("P-256"));
	EVP_PKEY *k = defer(free_pkey_fn, EVP_EC_gen("P-256"));
	X509 *ca, *crt;
	char *crt_pem, *key_pem;
	hsmca_error err = {0};

	assert_non_null(cak);
	assert_non_null(k);
	ca = make_cert(cak, "CN", "hsmca test accepted CA", NULL, NULL);
	crt = make_cert(k, "O", role, ca, cak);
	crt_pem = pem_of_x509(crt);
	key_pem = pem_of_key(k);
	nc->ca_pem = pem_of_x509(ca);
	nc->creds = defer(clear_creds_fn, calloc(1, sizeof(*nc->creds)));
	assert_non_null(nc->creds);
	if (hsmca_talos_creds_from_pem(admin.ca_pem, crt_pem, key_pem, nc->creds, &err) != 0)
		fail_msg("creds: %s", err.msg);
	release(key_pem);
	release(crt_pem);
	release(crt);
	release(ca);
	release(k);
	release(cak);
}

/* The node's machine config, deferred (wiped when released). */
static uint8_t *get_config(hsmca_talos_client *cl, const char *node, size_t *n)
{
	uint8_t *y = NULL;
	hsmca_error err = {0};

	if (hsmca_talos_get_machine_config(cl, node, &y, n, &err) != 0)
		fail_msg("get config: %s", err.msg);
	return defer_wipe(y, *n);
}

/* Whether machine.ca.key of a config is set (not absent, not ""). */
static int has_machine_ca_key(const uint8_t *y, size_t n)
{
	struct hsmca_talos_ydocs d = {0};
	hsmca_error err = {0};
	yaml_node_t *root, *m, *ca;
	const char *k;
	int rc, has = 0;

	rc = hsmca_talos_yaml_load(y, n, "config", &d, &err);
	if (rc == 0) {
		root = hsmca_talos_yaml_root(&d, 0);
		m = hsmca_talos_yaml_get(&d.docs[0], root, "machine", NULL);
		ca = hsmca_talos_yaml_get(&d.docs[0], m, "ca", NULL);
		k = hsmca_talos_yaml_str(hsmca_talos_yaml_get(&d.docs[0], ca, "key", NULL));
		has = k && *k;
	}
	hsmca_talos_yaml_free(&d);
	if (rc != 0)
		fail_msg("config: %s", err.msg);
	return has;
}

/* An edited config (deferred), failing the test if the edit fails or
 * changes nothing. */
static uint8_t *edit_accepted(const uint8_t *y, size_t n, enum hsmca_mconfig_target t,
			      const char *ca_pem, bool add, size_t *outlen)
{
	uint8_t *out = NULL;
	bool changed = false;
	hsmca_error err = {0};
	int rc = (add ? hsmca_mconfig_accepted_add : hsmca_mconfig_accepted_remove)(
		y, n, t, ca_pem, &out, outlen, &changed, &err);

	if (rc != 0)
		fail_msg("edit: %s", err.msg);
	defer_wipe(out, *outlen);
	assert_true(changed);
	return out;
}

/* Add or remove `ca_pem` in node's machine.acceptedCAs through `via`, on
 * one admin connection (the admin's handshake is not what the callers
 * test, and costs in the sanitizer build). */
static void change_accepted(const char *via, const char *node, const char *ca_pem, bool add)
{
	hsmca_talos_client *cl = client(&admin, via);
	const char *target = strcmp(via, node) ? node : NULL;
	uint8_t *y, *out;
	size_t n, outlen;
	hsmca_error err = {0};
	int before = config_version(node);

	hsmca_talos_client_set_reuse(cl, true);
	y = get_config(cl, target, &n);
	out = edit_accepted(y, n, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem, add, &outlen);
	if (hsmca_talos_apply_config(cl, target, out, outlen, HSMCA_TALOS_MODE_NO_REBOOT, &err) != 0)
		fail_msg("apply: %s", err.msg);
	assert_int_equal(config_version(node), before + 1);
	release(out);
	release(y);
	release(cl);
}

/* ---- tests */

static void test_version_direct_and_proxied(void **state)
{
	hsmca_talos_client *cl;
	hsmca_error err = {0};
	char tag[32];
	size_t i;

	(void)state;
	for (i = 0; i < NNODES; i++) {
		cl = client(&admin, nodes[i].name);
		if (hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err) != 0)
			fail_msg("%s: %s", nodes[i].name, err.msg);
		assert_string_equal(tag, "v1.14.0");
		release(cl);
	}
	/* Proxied: one connection to cp1 for all (the handshake is not what
	 * is tested here, and costs in the sanitizer build). */
	cl = client(&admin, "cp1");
	hsmca_talos_client_set_reuse(cl, true);
	for (i = 0; i < NNODES; i++) {
		tag[0] = '\0';
		if (hsmca_talos_version(cl, nodes[i].name, tag, sizeof(tag), &err) != 0)
			fail_msg("via cp1 to %s: %s", nodes[i].name, err.msg);
		assert_string_equal(tag, "v1.14.0");
	}
	/* apid refuses a node value with a port (its backend will not take
	 * such a target: INTERNAL "invalid target"). */
	assert_int_equal(hsmca_talos_version(cl, "cp2:50000", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_GRPC_INTERNAL);
	assert_contains(err.msg, "version on 127.0.0.1:");
	assert_contains(err.msg, "(node cp2:50000): INTERNAL: invalid target");
	/* A header-breaking node value never leaves the client. */
	assert_int_equal(hsmca_talos_version(cl, "cp2\r\nx: y", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_LOCAL);
	release(cl);
	/* Workers do not proxy ("no request forwarding"); naming themselves is local. */
	cl = client(&admin, "w1");
	assert_int_equal(hsmca_talos_version(cl, "cp1", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_GRPC_PERMISSION_DENIED);
	assert_contains(err.msg, "no request forwarding");
	assert_int_equal(hsmca_talos_version(cl, "w1", tag, sizeof(tag), &err), 0);
}

static void test_get_config_keys(void **state)
{
	hsmca_talos_client *cl = client(&admin, "cp1");
	uint8_t *y;
	size_t n;
	char type[32];
	hsmca_error err = {0};

	(void)state;
	y = get_config(cl, NULL, &n);
	assert_int_equal(strlen((char *)y), n);
	assert_int_equal(hsmca_mconfig_machine_type(y, n, type, sizeof(type), &err), 0);
	assert_string_equal(type, "controlplane");
	assert_true(has_machine_ca_key(y, n));
	release(y);
	/* A worker's config, through the control plane: no machine CA key. */
	y = get_config(cl, "w2", &n);
	assert_int_equal(hsmca_mconfig_machine_type(y, n, type, sizeof(type), &err), 0);
	assert_string_equal(type, "worker");
	assert_false(has_machine_ca_key(y, n));
}

/* Spec.yaml_spec is the YAML encoding of the config string (a "|" block):
 * decoded, it is byte for byte what proto_spec carries. */
static void test_get_config_yaml_spec(void **state)
{
	hsmca_talos_client *cl = client(&admin, "cp1");
	uint8_t *a, *b;
	size_t na, nb;

	(void)state;
	a = get_config(cl, "w1", &na);
	fault("node=w1&yaml_spec_only=1");
	b = get_config(cl, "w1", &nb);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na);
	assert_true(nb > 2 && memcmp(b, "|", 1) != 0 && memcmp(b, "version:", 8) == 0);
}

static void test_reader_role(void **state)
{
	hsmca_talos_client *cl = client(&reader, "cp2");
	uint8_t *y = NULL;
	size_t n = 0;
	char tag[32];
	hsmca_error err = {0};
	const char *cfg = "version: v1alpha1\nmachine:\n  type: controlplane\n";
	int rc;

	(void)state;
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), 0);
	rc = hsmca_talos_get_machine_config(cl, NULL, &y, &n, &err);
	defer_wipe(y, n); /* nothing, unless the client broke its contract */
	assert_int_equal(rc, -1);
	assert_null(y);
	assert_int_equal(err.code, HSMCA_GRPC_PERMISSION_DENIED);
	assert_contains(err.msg, "get machine config on ");
	assert_contains(err.msg, ": PERMISSION_DENIED: not authorized");
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, (const uint8_t *)cfg, strlen(cfg),
						  HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_PERMISSION_DENIED);
	assert_contains(err.msg, "apply config on ");
}

/* The rotation's proof: a client certificate signed by a new CA works once
 * the CA is in machine.acceptedCAs and is refused, on a fresh connection,
 * once it is removed; an already open connection keeps working (apid). */
static void test_accepted_ca_add_then_remove(void **state)
{
	struct newca nc;
	hsmca_talos_client *cl, *kept;
	hsmca_error err = {0};
	char tag[32];
	struct json_object *st;
	const char *fp;
	uint8_t fpb[32];
	char fphex[65];
	BIO *bio;
	X509 *x;
	unsigned fl;

	(void)state;
	make_newca(&nc, "os:admin");
	bio = BIO_new_mem_buf(nc.ca_pem, -1);
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(x);
	X509_digest(x, EVP_sha256(), fpb, &fl);
	X509_free(x);
	hsmca_hex(fpb, 32, fphex);

	cl = client(nc.creds, "w2");
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_TLS_REFUSED);
	assert_contains(err.msg, "node refused the client certificate (TLS handshake failed");

	change_accepted("cp1", "w2", nc.ca_pem, true);
	st = ctl("/state");
	fp = json_object_get_string(json_object_array_get_idx(
		json_object_object_get(node_state(st, "w2"), "machine_accepted"), 0));
	assert_non_null(fp);
	assert_string_equal(fp, fphex);
	release(st);

	if (hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err) != 0)
		fail_msg("new CA's client after add: %s", err.msg);
	/* Full admin rights with the new credential, directly on the node. */
	{
		size_t n;

		release(get_config(cl, NULL, &n));
	}
	kept = client(nc.creds, "w2");
	hsmca_talos_client_set_reuse(kept, true);
	assert_int_equal(hsmca_talos_version(kept, NULL, tag, sizeof(tag), &err), 0);

	change_accepted("w2", "w2", nc.ca_pem, false);
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_TLS_REFUSED);
	assert_contains(err.msg, "version on ");
	assert_contains(err.msg, ": node refused the client certificate (TLS handshake failed");
	/* The open connection was not re-checked: why every call of the
	 * rotation opens a fresh one. */
	assert_int_equal(hsmca_talos_version(kept, NULL, tag, sizeof(tag), &err), 0);
	hsmca_talos_client_set_reuse(kept, false);
	assert_int_equal(hsmca_talos_version(kept, NULL, tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_TLS_REFUSED);
}

#define APPLY "/machine.MachineService/ApplyConfiguration"

/* A deadline for calls on an open connection (no handshake in it) that
 * are expected to run into it: at least 1.5 s, more on a slow machine. */
static unsigned short_deadline_ms(void)
{
	long ms = slow_ms(500);

	return ms > 1500 ? (unsigned)ms : 1500u;
}

/* The retry logic does not depend on the connection: these calls keep one
 * open (hsmca_talos_client_set_reuse), so that a handshake, slow in the
 * sanitizer build, is not part of what the deadline has to cover. */
static void test_unavailable_retried(void **state)
{
	hsmca_talos_client *cl = client(&admin, "w3");
	uint8_t *y;
	size_t n;
	hsmca_error err = {0};
	int v, before;
	unsigned deadline_ms;
	double t0, dt;
	struct json_object *st;

	(void)state;
	hsmca_talos_client_set_reuse(cl, true);
	y = get_config(cl, NULL, &n);

	/* Two UNAVAILABLE, then stored: the third attempt got through. */
	v = config_version("w3");
	before = served("w3", APPLY, "UNAVAILABLE");
	fault("node=w3&apply_unavailable=2");
	if (hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err) != 0)
		fail_msg("apply with 2 UNAVAILABLE: %s", err.msg);
	assert_int_equal(config_version("w3"), v + 1);
	assert_int_equal(served("w3", APPLY, "UNAVAILABLE"), before + 2);
	st = ctl("/state");
	assert_int_equal(json_object_get_int(json_object_object_get(
				 json_object_object_get(node_state(st, "w3"), "faults"),
				 "apply_unavailable")),
			 0);
	release(st);

	/* A permanent INTERNAL is not retried: one attempt, whatever the
	 * deadline (30 s) would have allowed. */
	fault("node=w3&apply_internal=1");
	before = served("w3", APPLY, "INTERNAL");
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_INTERNAL);
	assert_contains(err.msg, "apply config on ");
	assert_contains(err.msg, ": INTERNAL: ");
	assert_int_equal(served("w3", APPLY, "INTERNAL"), before + 1);
	fault("node=w3&clear=1");

	/* UNAVAILABLE that outlasts the deadline: retried until the deadline,
	 * then reported as UNAVAILABLE, whether the deadline falls in a
	 * backoff or cuts an attempt short. */
	deadline_ms = short_deadline_ms();
	hsmca_talos_client_set_deadline(cl, deadline_ms);
	fault("node=w3&unavailable=100000");
	t0 = now_s();
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	dt = now_s() - t0;
	if (err.code != HSMCA_GRPC_UNAVAILABLE)
		fail_msg("want UNAVAILABLE (14), got %lu: %s", err.code, err.msg);
	assert_contains(err.msg, ": UNAVAILABLE: injected fault: node unavailable");
	assert_contains(err.msg, "still failing after");
	if (dt < deadline_ms / 1000.0 - 0.01 || dt > deadline_ms / 1000.0 + 2.5 * test_slow())
		fail_msg("took %.2f s with a %u ms deadline", dt, deadline_ms);
	fault("node=w3&clear=1");

	/* The same when the deadline cuts a retry short: one UNAVAILABLE,
	 * then the node stalls (the double applies the delay to calls that
	 * pass its fault checks).  Still UNAVAILABLE, not DEADLINE_EXCEEDED:
	 * what the caller is told must not depend on where the deadline
	 * falls. */
	fault("node=w3&unavailable=1&delay_ms=%ld", slow_ms(10000));
	t0 = now_s();
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	dt = now_s() - t0;
	if (err.code != HSMCA_GRPC_UNAVAILABLE)
		fail_msg("want UNAVAILABLE (14), got %lu: %s", err.code, err.msg);
	assert_contains(err.msg, ": UNAVAILABLE: injected fault: node unavailable");
	assert_contains(err.msg, "(still failing after 2 attempts in ");
	assert_contains(err.msg, ", the deadline cut the last one short)");
	if (dt < deadline_ms / 1000.0 - 0.01 || dt > deadline_ms / 1000.0 + 2.5 * test_slow())
		fail_msg("took %.2f s with a %u ms deadline", dt, deadline_ms);
}

static void test_node_down_and_slow(void **state)
{
	hsmca_talos_client *cl = client(&admin, "w1"), *cp = client(&admin, "cp3");
	hsmca_error err = {0};
	char tag[32];
	unsigned direct_ms = 1500, proxied_ms = short_deadline_ms(), slow_node_ms = 1000;
	unsigned delay_ms = (unsigned)slow_ms(5000);
	double t0, dt;

	(void)state;
	/* cp keeps its connection to cp3 open (see test_unavailable_retried). */
	hsmca_talos_client_set_reuse(cp, true);
	if (hsmca_talos_version(cp, NULL, tag, sizeof(tag), &err) != 0)
		fail_msg("cp3: %s", err.msg);
	/* Down, directly: connections refused until the deadline.  Refusals
	 * are immediate, so this deadline needs no scaling. */
	hsmca_talos_client_set_deadline(cl, direct_ms);
	fault("node=w1&down=1");
	t0 = now_s();
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	dt = now_s() - t0;
	if (err.code != HSMCA_TALOS_E_UNREACHABLE)
		fail_msg("want UNREACHABLE (1002), got %lu: %s", err.code, err.msg);
	assert_contains(err.msg, "version on 127.0.0.1:");
	assert_contains(err.msg, "cannot connect");
	assert_contains(err.msg, "still failing after");
	if (dt < direct_ms / 1000.0 - 0.01 || dt > direct_ms / 1000.0 + 2.5 * test_slow())
		fail_msg("took %.2f s with a %u ms deadline", dt, direct_ms);

	/* Down, through a control plane: apid answers UNAVAILABLE, retried
	 * until the deadline, and that is what the caller is told. */
	hsmca_talos_client_set_deadline(cp, proxied_ms);
	t0 = now_s();
	assert_int_equal(hsmca_talos_version(cp, "w1", tag, sizeof(tag), &err), -1);
	dt = now_s() - t0;
	if (err.code != HSMCA_GRPC_UNAVAILABLE)
		fail_msg("want UNAVAILABLE (14), got %lu: %s", err.code, err.msg);
	assert_contains(err.msg, "(node w1): UNAVAILABLE: ");
	assert_contains(err.msg, "connection refused");
	assert_true(dt >= proxied_ms / 1000.0 - 0.01);
	fault("node=w1&down=0");
	hsmca_talos_client_set_deadline(cl, 30000);
	if (hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err) != 0)
		fail_msg("w1 back up: %s", err.msg);

	/* A slow node: the deadline cuts the call, long before the answer
	 * would come (the double wakes the delayed call when the test's
	 * teardown clears the fault). */
	hsmca_talos_client_set_deadline(cp, slow_node_ms);
	fault("node=cp3&delay_ms=%u", delay_ms);
	t0 = now_s();
	assert_int_equal(hsmca_talos_version(cp, NULL, tag, sizeof(tag), &err), -1);
	dt = now_s() - t0;
	if (err.code != HSMCA_GRPC_DEADLINE_EXCEEDED)
		fail_msg("want DEADLINE_EXCEEDED (4), got %lu: %s", err.code, err.msg);
	assert_contains(err.msg, "DEADLINE_EXCEEDED: no answer in time");
	if (dt < slow_node_ms / 1000.0 - 0.01 || dt >= delay_ms / 1000.0)
		fail_msg("took %.2f s with a %u ms deadline and a %u ms delay", dt, slow_node_ms,
			 delay_ms);
}

static void test_apply_refused_by_node(void **state)
{
	hsmca_talos_client *cl = client(&admin, "cp2");
	uint8_t *y;
	size_t n;
	hsmca_error err = {0};
	char *p;

	(void)state;
	y = get_config(cl, NULL, &n);
	/* REBOOT outside maintenance mode: UNIMPLEMENTED (machined's ApplyConfiguration). */
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_UNIMPLEMENTED);
	assert_contains(err.msg, "the REBOOT mode is not supported");
	p = strstr((char *)y, "type: controlplane");
	assert_non_null(p);
	memcpy(p, "type: worker      ", 18);
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_INVALID_ARGUMENT);
	assert_contains(err.msg, "machine type can't be changed");
}

static void test_server_cert_checked(void **state)
{
	struct newca nc;
	struct hsmca_talos_creds *wrong = defer(clear_creds_fn, calloc(1, sizeof(*wrong)));
	hsmca_talos_client *cl;
	hsmca_error err = {0};
	char tag[32];

	(void)state;
	assert_non_null(wrong);
	make_newca(&nc, "os:admin");
	/* Our admin credential, but trusting some other CA for the server. */
	if (hsmca_talos_creds_from_pem(nc.ca_pem, admin.crt_pem, admin.key_pem, wrong, &err) != 0)
		fail_msg("creds: %s", err.msg);
	cl = client(wrong, "cp1");
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_SERVER_CERT);
	assert_contains(err.msg, "not verified by the talosconfig CA");
}

/* The Kubernetes side: the KubeAPIServerCAConfig document's plain-PEM
 * acceptedCAs on a control plane and a worker, through cp3. */
static void test_kube_accepted_ca(void **state)
{
	static const char *const targets[] = {"cp3", "w3"};
	hsmca_talos_client *cl = client(&admin, "cp3");
	struct newca nc;
	size_t i;

	(void)state;
	make_newca(&nc, "os:admin");
	hsmca_talos_client_set_reuse(cl, true); /* as in change_accepted */
	for (i = 0; i < 2; i++) {
		const char *node = strcmp(targets[i], "cp3") ? targets[i] : NULL;
		uint8_t *y, *out;
		size_t n, outlen;
		hsmca_error err = {0};
		struct json_object *st;
		int v = config_version(targets[i]);

		y = get_config(cl, node, &n);
		assert_non_null(strstr((char *)y, "kind: KubeAPIServerCAConfig"));
		out = edit_accepted(y, n, HSMCA_MCONFIG_CLUSTER_ACCEPTED, nc.ca_pem, true, &outlen);
		if (hsmca_talos_apply_config(cl, node, out, outlen, HSMCA_TALOS_MODE_NO_REBOOT,
					     &err) != 0)
			fail_msg("apply to %s: %s", targets[i], err.msg);
		assert_int_equal(config_version(targets[i]), v + 1);
		st = ctl("/state");
		assert_int_equal(json_object_array_length(json_object_object_get(
					 node_state(st, targets[i]), "kube_accepted")),
				 1);
		assert_int_equal(json_object_array_length(json_object_object_get(
					 node_state(st, targets[i]), "machine_accepted")),
				 0);
		release(st);
		release(out);
		release(y);
	}
}

/* Runs last but one: nothing above sent a foreign private key. */
static void test_no_violations(void **state)
{
	struct json_object *v = ctl("/violations");

	(void)state;
	if (json_object_array_length(v) != 0)
		fail_msg("violations: %s", json_object_to_json_string(v));
}

/* The double's oracle itself: a control plane's config (with its machine CA
 * key) sent to a worker is recorded, by fingerprint only. */
static void test_oracle_catches_foreign_key(void **state)
{
	hsmca_talos_client *cp = client(&admin, "cp1");
	uint8_t *y;
	size_t n;
	hsmca_error err = {0};
	struct json_object *v;
	const char *s;

	(void)state;
	y = get_config(cp, NULL, &n);
	assert_int_equal(hsmca_talos_apply_config(cp, "w3", y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	if (err.code != HSMCA_GRPC_INVALID_ARGUMENT)
		fail_msg("want INVALID_ARGUMENT (3), got %lu: %s", err.code, err.msg);
	v = ctl("/violations");
	assert_true(json_object_array_length(v) >= 1);
	s = json_object_get_string(
		json_object_object_get(json_object_array_get_idx(v, 0), "node"));
	assert_string_equal(s, "w3");
	s = json_object_to_json_string(v);
	assert_null(strstr(s, "PRIVATE KEY-----"));
	assert_null(strstr(s, "LS0tLS1CRUdJTi")); /* base64 of "-----BEGIN" */
}

#define TEST(f) cmocka_unit_test_teardown(f, reset_test)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_version_direct_and_proxied),
		TEST(test_get_config_keys),
		TEST(test_get_config_yaml_spec),
		TEST(test_reader_role),
		TEST(test_accepted_ca_add_then_remove),
		TEST(test_unavailable_retried),
		TEST(test_node_down_and_slow),
		TEST(test_apply_refused_by_node),
		TEST(test_server_cert_checked),
		TEST(test_kube_accepted_ca),
		TEST(test_no_violations),
		TEST(test_oracle_catches_foreign_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
