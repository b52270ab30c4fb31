/* Talos client against the Talos API double (tests/doubles/talos_double.py).
 *
 * The group setup starts the double (6 nodes) with /usr/bin/python3, waits
 * for its ready.json (bounded), and the group teardown stops it by PID
 * (SIGTERM, then SIGKILL); an atexit handler does the same if the test
 * program dies early, and the double exits by itself after 600 s anyway. */
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
	int fd;
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
	until = now_s() + 60;
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
		return -1;
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
		json_object_put(j);
		return -1;
	}
	json_object_put(j);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	setenv("HSMCA_TALOS_DEADLINE", "4", 1);
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

/* ---- control endpoint */

static size_t collect(char *d, size_t s, size_t n, void *arg)
{
	struct hsmca_talos_pbuf_like {
		char *p;
		size_t len;
	} *b = arg;
	char *np = realloc(b->p, b->len + s * n + 1);

	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->len, d, s * n);
	b->len += s * n;
	b->p[b->len] = '\0';
	return s * n;
}

/* GET control + path; returns parsed JSON (caller puts it). */
static struct json_object *ctl(const char *fmt, ...)
{
	struct {
		char *p;
		size_t len;
	} b = {NULL, 0};
	char path[512], url[600];
	struct json_object *j;
	va_list ap;
	CURL *h = curl_easy_init();
	long code = 0;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	snprintf(url, sizeof(url), "%s%s", control, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	assert_int_equal(code, 200);
	j = json_tokener_parse(b.p);
	free(b.p);
	assert_non_null(j);
	return j;
}

static void fault(const char *query)
{
	json_object_put(ctl("/fault?%s", query));
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

	json_object_put(st);
	return v;
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

static hsmca_talos_client *client(const struct hsmca_talos_creds *c, const char *name)
{
	hsmca_talos_client *cl = NULL;
	hsmca_error err = {0};

	if (hsmca_talos_client_new(c, find(name)->endpoint, &cl, &err) != 0)
		fail_msg("client: %s", err.msg);
	return cl;
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
	return s;
}

static char *pem_of_key(EVP_PKEY *k)
{
	BIO *m = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *s;

	PEM_write_bio_PrivateKey(m, k, NULL, NULL, 0, NULL, NULL);
	BIO_get_mem_ptr(m, &bm);
	s = strndup(bm->data, bm->length);
	BIO_free(m);
	return s;
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

/* A certificate for `key`: self-signed CA when issuer is NULL, else a
 * Talos admin-style client certificate (O=org, clientAuth). */
static X509 *make_cert(EVP_PKEY *key, const char *field, const char *value, X509 *issuer,
		       EVP_PKEY *issuer_key)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC, (const unsigned char *)value, -1, -1,
				   0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
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
	X509_NAME_free(name);
	return x;
}

/* A new CA and an os:admin client certificate it signed, as talos creds
 * that trust the cluster's machine CA for the server side. */
struct newca {
	char *ca_pem;
	struct hsmca_talos_creds creds;
};

static void make_newca(struct newca *nc, const char *role)
{
	EVP_PKEY *cak = EVP_EC_gen("P-256"), *k = EVP_EC_gen("P-256");
	X509 *ca = make_cert(cak, "CN", "hsmca test accepted CA", NULL, NULL);
	X509 *crt = make_cert(k, "O", role, ca, cak);
	char *crt_pem = pem_of_x509(crt), *key_pem = pem_of_key(k);
	hsmca_error err = {0};

	nc->ca_pem = pem_of_x509(ca);
	assert_int_equal(hsmca_talos_creds_from_pem(admin.ca_pem, crt_pem, key_pem, &nc->creds,
						    &err),
			 0);
	hsmca_wipe(key_pem, strlen(key_pem));
	free(key_pem);
	free(crt_pem);
	X509_free(ca);
	X509_free(crt);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
}

static void free_newca(struct newca *nc)
{
	free(nc->ca_pem);
	hsmca_talos_creds_clear(&nc->creds);
}

static void get_config(hsmca_talos_client *cl, const char *node, uint8_t **y, size_t *n)
{
	hsmca_error err = {0};

	if (hsmca_talos_get_machine_config(cl, node, y, n, &err) != 0)
		fail_msg("get config: %s", err.msg);
}

static void free_config(uint8_t *y, size_t n)
{
	hsmca_wipe(y, n);
	free(y);
}

/* machine.ca.key of a config: "" when absent. */
static int has_machine_ca_key(const uint8_t *y, size_t n)
{
	struct hsmca_talos_ydocs d = {0};
	hsmca_error err = {0};
	yaml_node_t *root, *m, *ca;
	const char *k;
	int has;

	assert_int_equal(hsmca_talos_yaml_load(y, n, "config", &d, &err), 0);
	root = hsmca_talos_yaml_root(&d, 0);
	m = hsmca_talos_yaml_get(&d.docs[0], root, "machine", NULL);
	ca = hsmca_talos_yaml_get(&d.docs[0], m, "ca", NULL);
	k = hsmca_talos_yaml_str(hsmca_talos_yaml_get(&d.docs[0], ca, "key", NULL));
	has = k && *k;
	hsmca_talos_yaml_free(&d);
	return has;
}

/* Add or remove `ca_pem` in node's machine.acceptedCAs through `via`. */
static void change_accepted(const char *via, const char *node, const char *ca_pem, bool add)
{
	hsmca_talos_client *cl = client(&admin, via);
	uint8_t *y, *out;
	size_t n, outlen;
	bool changed = false;
	hsmca_error err = {0};
	int before = config_version(node);

	get_config(cl, strcmp(via, node) ? node : NULL, &y, &n);
	if ((add ? hsmca_mconfig_accepted_add : hsmca_mconfig_accepted_remove)(
		    y, n, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem, &out, &outlen, &changed, &err) != 0)
		fail_msg("edit: %s", err.msg);
	assert_true(changed);
	if (hsmca_talos_apply_config(cl, strcmp(via, node) ? node : NULL, out, outlen,
				     HSMCA_TALOS_MODE_NO_REBOOT, &err) != 0)
		fail_msg("apply: %s", err.msg);
	assert_int_equal(config_version(node), before + 1);
	free_config(y, n);
	free_config(out, outlen);
	hsmca_talos_client_free(cl);
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
		hsmca_talos_client_free(cl);
	}
	cl = client(&admin, "cp1");
	for (i = 0; i < NNODES; i++) {
		tag[0] = '\0';
		if (hsmca_talos_version(cl, nodes[i].name, tag, sizeof(tag), &err) != 0)
			fail_msg("via cp1 to %s: %s", nodes[i].name, err.msg);
		assert_string_equal(tag, "v1.14.0");
	}
	/* apid refuses a node value with a port. */
	assert_int_equal(hsmca_talos_version(cl, "cp2:50000", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_GRPC_INVALID_ARGUMENT);
	assert_contains(err.msg, "version on 127.0.0.1:");
	assert_contains(err.msg, "(node cp2:50000): INVALID_ARGUMENT: ");
	/* A header-breaking node value never leaves the client. */
	assert_int_equal(hsmca_talos_version(cl, "cp2\r\nx: y", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_LOCAL);
	hsmca_talos_client_free(cl);
	/* Workers do not proxy. */
	cl = client(&admin, "w1");
	assert_int_equal(hsmca_talos_version(cl, "cp1", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_GRPC_FAILED_PRECONDITION);
	hsmca_talos_client_free(cl);
}

static void test_get_config_keys(void **state)
{
	hsmca_talos_client *cl = client(&admin, "cp1");
	uint8_t *y;
	size_t n;
	char type[32];
	hsmca_error err = {0};

	(void)state;
	get_config(cl, NULL, &y, &n);
	assert_int_equal(strlen((char *)y), n);
	assert_int_equal(hsmca_mconfig_machine_type(y, n, type, sizeof(type), &err), 0);
	assert_string_equal(type, "controlplane");
	assert_true(has_machine_ca_key(y, n));
	free_config(y, n);
	/* A worker's config, through the control plane: no machine CA key. */
	get_config(cl, "w2", &y, &n);
	assert_int_equal(hsmca_mconfig_machine_type(y, n, type, sizeof(type), &err), 0);
	assert_string_equal(type, "worker");
	assert_false(has_machine_ca_key(y, n));
	free_config(y, n);
	hsmca_talos_client_free(cl);
}

static void test_reader_role(void **state)
{
	hsmca_talos_client *cl = client(&reader, "cp2");
	uint8_t *y = NULL;
	size_t n = 0;
	char tag[32];
	hsmca_error err = {0};
	const char *cfg = "version: v1alpha1\nmachine:\n  type: controlplane\n";

	(void)state;
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), 0);
	assert_int_equal(hsmca_talos_get_machine_config(cl, NULL, &y, &n, &err), -1);
	assert_null(y);
	assert_int_equal(err.code, HSMCA_GRPC_PERMISSION_DENIED);
	assert_contains(err.msg, "get machine config on ");
	assert_contains(err.msg, ": PERMISSION_DENIED: not authorized");
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, (const uint8_t *)cfg, strlen(cfg),
						  HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_PERMISSION_DENIED);
	assert_contains(err.msg, "apply config on ");
	hsmca_talos_client_free(cl);
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
	X509_digest(x, EVP_sha256(), fpb, &fl);
	hsmca_hex(fpb, 32, fphex);
	X509_free(x);
	BIO_free(bio);

	cl = client(&nc.creds, "w2");
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_TLS_REFUSED);
	assert_contains(err.msg, "node refused the client certificate (TLS handshake failed");

	change_accepted("cp1", "w2", nc.ca_pem, true);
	st = ctl("/state");
	fp = json_object_get_string(json_object_array_get_idx(
		json_object_object_get(node_state(st, "w2"), "machine_accepted"), 0));
	assert_non_null(fp);
	assert_string_equal(fp, fphex);
	json_object_put(st);

	if (hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err) != 0)
		fail_msg("new CA's client after add: %s", err.msg);
	/* Full admin rights with the new credential, directly on the node. */
	{
		uint8_t *y;
		size_t n;

		get_config(cl, NULL, &y, &n);
		free_config(y, n);
	}
	kept = client(&nc.creds, "w2");
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
	hsmca_talos_client_free(kept);
	hsmca_talos_client_free(cl);
	free_newca(&nc);
}

static void test_unavailable_retried(void **state)
{
	hsmca_talos_client *cl = client(&admin, "w3");
	uint8_t *y;
	size_t n;
	hsmca_error err = {0};
	int v;
	double t0;
	struct json_object *st;

	(void)state;
	get_config(cl, NULL, &y, &n);
	v = config_version("w3");
	fault("node=w3&apply_unavailable=2");
	if (hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err) != 0)
		fail_msg("apply with 2 UNAVAILABLE: %s", err.msg);
	assert_int_equal(config_version("w3"), v + 1);
	st = ctl("/state");
	assert_int_equal(json_object_get_int(json_object_object_get(
				 json_object_object_get(node_state(st, "w3"), "faults"),
				 "apply_unavailable")),
			 0);
	json_object_put(st);

	/* A permanent INTERNAL is not retried. */
	fault("node=w3&apply_internal=1");
	t0 = now_s();
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(err.code, HSMCA_GRPC_INTERNAL);
	assert_contains(err.msg, "apply config on ");
	assert_contains(err.msg, ": INTERNAL: ");
	fault("node=w3&clear=1");

	/* UNAVAILABLE that outlasts the deadline. */
	hsmca_talos_client_set_deadline(cl, 1500);
	fault("node=w3&unavailable=1000");
	t0 = now_s();
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_true(now_s() - t0 >= 1.4 && now_s() - t0 < 4.0);
	assert_int_equal(err.code, HSMCA_GRPC_UNAVAILABLE);
	assert_contains(err.msg, "UNAVAILABLE");
	assert_contains(err.msg, "still failing after");
	fault("node=w3&clear=1");
	free_config(y, n);
	hsmca_talos_client_free(cl);
}

static void test_node_down_and_slow(void **state)
{
	hsmca_talos_client *cl = client(&admin, "w1"), *cp = client(&admin, "cp3");
	hsmca_error err = {0};
	char tag[32];
	double t0, dt;

	(void)state;
	hsmca_talos_client_set_deadline(cl, 2000);
	hsmca_talos_client_set_deadline(cp, 2000);
	fault("node=w1&down=1");
	t0 = now_s();
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	dt = now_s() - t0;
	assert_true(dt >= 1.9 && dt < 5.0);
	assert_int_equal(err.code, HSMCA_TALOS_E_UNREACHABLE);
	assert_contains(err.msg, "version on 127.0.0.1:");
	assert_contains(err.msg, "cannot connect");
	/* Through a control plane: apid answers UNAVAILABLE. */
	assert_int_equal(hsmca_talos_version(cp, "w1", tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_GRPC_UNAVAILABLE);
	assert_contains(err.msg, "(node w1): UNAVAILABLE: ");
	fault("node=w1&down=0");
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), 0);

	/* A slow node: the deadline cuts the call. */
	fault("node=cp3&delay_ms=4000");
	hsmca_talos_client_set_deadline(cp, 1000);
	t0 = now_s();
	assert_int_equal(hsmca_talos_version(cp, NULL, tag, sizeof(tag), &err), -1);
	dt = now_s() - t0;
	assert_true(dt >= 0.9 && dt < 3.0);
	assert_int_equal(err.code, HSMCA_GRPC_DEADLINE_EXCEEDED);
	fault("node=cp3&clear=1");
	hsmca_talos_client_free(cl);
	hsmca_talos_client_free(cp);
}

static void test_apply_refused_by_node(void **state)
{
	hsmca_talos_client *cl = client(&admin, "cp2");
	uint8_t *y;
	size_t n;
	hsmca_error err = {0};
	char *p;

	(void)state;
	get_config(cl, NULL, &y, &n);
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_INVALID_ARGUMENT);
	p = strstr((char *)y, "type: controlplane");
	assert_non_null(p);
	memcpy(p, "type: worker      ", 18);
	assert_int_equal(hsmca_talos_apply_config(cl, NULL, y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_INVALID_ARGUMENT);
	assert_contains(err.msg, "machine type can't be changed");
	free_config(y, n);
	hsmca_talos_client_free(cl);
}

static void test_server_cert_checked(void **state)
{
	struct newca nc;
	struct hsmca_talos_creds wrong = {0};
	hsmca_talos_client *cl;
	hsmca_error err = {0};
	char tag[32];

	(void)state;
	make_newca(&nc, "os:admin");
	/* Our admin credential, but trusting some other CA for the server. */
	assert_int_equal(hsmca_talos_creds_from_pem(nc.ca_pem, admin.crt_pem, admin.key_pem,
						    &wrong, &err),
			 0);
	cl = client(&wrong, "cp1");
	assert_int_equal(hsmca_talos_version(cl, NULL, tag, sizeof(tag), &err), -1);
	assert_int_equal(err.code, HSMCA_TALOS_E_SERVER_CERT);
	assert_contains(err.msg, "not verified by the talosconfig CA");
	hsmca_talos_client_free(cl);
	hsmca_talos_creds_clear(&wrong);
	free_newca(&nc);
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
	for (i = 0; i < 2; i++) {
		const char *node = strcmp(targets[i], "cp3") ? targets[i] : NULL;
		uint8_t *y, *out;
		size_t n, outlen;
		bool changed = false;
		hsmca_error err = {0};
		struct json_object *st;
		int v = config_version(targets[i]);

		get_config(cl, node, &y, &n);
		assert_non_null(strstr((char *)y, "kind: KubeAPIServerCAConfig"));
		if (hsmca_mconfig_accepted_add(y, n, HSMCA_MCONFIG_CLUSTER_ACCEPTED, nc.ca_pem, &out,
					       &outlen, &changed, &err) != 0)
			fail_msg("edit: %s", err.msg);
		assert_true(changed);
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
		json_object_put(st);
		free_config(y, n);
		free_config(out, outlen);
	}
	free_newca(&nc);
	hsmca_talos_client_free(cl);
}

/* Runs last but one: nothing above sent a foreign private key. */
static void test_no_violations(void **state)
{
	struct json_object *v = ctl("/violations");

	(void)state;
	assert_int_equal(json_object_array_length(v), 0);
	json_object_put(v);
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
	get_config(cp, NULL, &y, &n);
	assert_int_equal(hsmca_talos_apply_config(cp, "w3", y, n, HSMCA_TALOS_MODE_NO_REBOOT, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_GRPC_INVALID_ARGUMENT);
	v = ctl("/violations");
	assert_true(json_object_array_length(v) >= 1);
	s = json_object_get_string(
		json_object_object_get(json_object_array_get_idx(v, 0), "node"));
	assert_string_equal(s, "w3");
	s = json_object_to_json_string(v);
	assert_null(strstr(s, "PRIVATE KEY-----"));
	assert_null(strstr(s, "LS0tLS1CRUdJTi")); /* base64 of "-----BEGIN" */
	json_object_put(v);
	free_config(y, n);
	hsmca_talos_client_free(cp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_direct_and_proxied),
		cmocka_unit_test(test_get_config_keys),
		cmocka_unit_test(test_reader_role),
		cmocka_unit_test(test_accepted_ca_add_then_remove),
		cmocka_unit_test(test_unavailable_retried),
		cmocka_unit_test(test_node_down_and_slow),
		cmocka_unit_test(test_apply_refused_by_node),
		cmocka_unit_test(test_server_cert_checked),
		cmocka_unit_test(test_kube_accepted_ca),
		cmocka_unit_test(test_no_violations),
		cmocka_unit_test(test_oracle_catches_foreign_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
