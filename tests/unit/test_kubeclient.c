/* Unit tests for the Kubernetes API client (src/kube/kubeclient.c, kubewatch.c)
 * against the Kubernetes API double tests/doubles/kube_double.py, started
 * with /usr/bin/python3 for the whole group and stopped by its PID.
 *
 * Every test runs with a per-test teardown that releases what the test
 * registered with defer() (defer.h: a failed assertion leaks nothing) and
 * resets the double's faults and client CAs (a failed test leaves nothing
 * behind for the next one).  Watch callbacks never assert: they return -1
 * with err set, so a failure unwinds through the client normally.  Waits
 * are bounded by deadlines scaled with test_slow() (slowdown.h); lower
 * bounds on elapsed time are exact. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

#include "defer.h"
#include "kube/kube_internal.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
#include "slowdown.h"
#include "testutil.h"

#define TENANT "foo"
#define TENANT_NS "tenant-foo"
#define KAMAJI_NS "cozy-kamaji"

static struct {
	char *dir;
	pid_t pid;
	int control_port;
	char control_token[128];
	int tenant_port;
	char kubeconfig[PATH_MAX];
	char token_kubeconfig[PATH_MAX];
	char ca_file[PATH_MAX];
	char client_ca_file[PATH_MAX];
	int port;
} D;

/* ---- the double ------------------------------------------------------- */

static void stop_double(void)
{
	int status;

	if (D.pid <= 0)
		return;
	kill(D.pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(D.pid, &status, WNOHANG) == D.pid) {
			D.pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(D.pid, SIGKILL);
	waitpid(D.pid, &status, 0);
	D.pid = 0;
}

static int start_double(void **state)
{
	const char *src = getenv("HSMCA_TEST_SRCDIR");
	char script[PATH_MAX], ready[PATH_MAX], logf[PATH_MAX];
	json_object *r = NULL, *v;
	struct stat st;
	long waited_ms = 0;

	(void)state;
	assert_non_null(src);
	D.dir = hsmca_test_tmpdir();
	assert_non_null(D.dir);
	snprintf(script, sizeof(script), "%s/tests/doubles/kube_double.py", src);
	snprintf(ready, sizeof(ready), "%s/ready.json", D.dir);
	snprintf(logf, sizeof(logf), "%s/double.log", D.dir);
	snprintf(D.client_ca_file, sizeof(D.client_ca_file), "%s/client-cas.pem", D.dir);
	D.pid = fork();
	assert_true(D.pid >= 0);
	if (D.pid == 0) {
		FILE *lf = freopen(logf, "w", stderr);

		(void)lf;
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl("/usr/bin/python3", "python3", script, "--dir", D.dir, "--deadline", "280",
		      "--client-ca-file", D.client_ca_file, "--kamaji-tenant", TENANT,
		      "--tenant-namespace", TENANT_NS, "--kamaji-namespace", KAMAJI_NS,
		      "--rotate-delay", "0.3", "--pod-ready-delay", "0.3", "--pod-grace", "0.2",
		      "--vm-restart-delay", "0.2", "--bookmark-interval", "0.3", (char *)NULL);
		_exit(127);
	}
	for (; waited_ms < slow_ms(30000) && stat(ready, &st) != 0; waited_ms += 50) {
		int status;

		if (waitpid(D.pid, &status, WNOHANG) == D.pid) {
			D.pid = 0;
			fail_msg("kube_double exited early; see %s", logf);
		}
		usleep(50000);
	}
	r = json_object_from_file(ready);
	if (!r) {
		stop_double();
		fail_msg("kube_double did not write %s in %ld ms", ready, waited_ms);
	}
#define GETSTR(key, dst)                                                         \
	do {                                                                     \
		assert_true(json_object_object_get_ex(r, key, &v));              \
		snprintf(dst, sizeof(dst), "%s", json_object_get_string(v));     \
	} while (0)
	GETSTR("kubeconfig", D.kubeconfig);
	GETSTR("token_kubeconfig", D.token_kubeconfig);
	GETSTR("ca_file", D.ca_file);
	GETSTR("control_token", D.control_token);
#undef GETSTR
	assert_true(json_object_object_get_ex(r, "control_port", &v));
	D.control_port = json_object_get_int(v);
	assert_true(json_object_object_get_ex(r, "tenant_port", &v));
	D.tenant_port = json_object_get_int(v);
	assert_true(json_object_object_get_ex(r, "port", &v));
	D.port = json_object_get_int(v);
	json_object_put(r);
	return 0;
}

static int stop_all(void **state)
{
	(void)state;
	stop_double();
	hsmca_test_rmtree(D.dir);
	free(D.dir);
	return 0;
}

/* ---- releasing what a test holds (defer.h) ---------------------------------- */

static void put_json_fn(void *p, size_t n)
{
	(void)n;
	json_object_put(p);
}

static void free_kc_fn(void *p, size_t n)
{
	(void)n;
	hsmca_kubeconfig_free(p);
}

static void free_kube_fn(void *p, size_t n)
{
	(void)n;
	hsmca_kube_free(p);
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

static void free_secret_fn(void *p, size_t n)
{
	kube_free_secret(p, n);
}

static json_object *defer_json(json_object *o)
{
	return defer(put_json_fn, o);
}

/* A secret buffer from the client (kube_free_secret), deferred. */
static void *defer_secret(void *p, size_t n)
{
	return defer_n(free_secret_fn, p, n);
}

/* ---- helpers -------------------------------------------------------------- */

struct mem {
	char *p;
	size_t n;
};

static size_t mem_write(char *p, size_t s, size_t n, void *ud)
{
	struct mem *m = ud;
	char *q = realloc(m->p, m->n + s * n + 1);

	if (!q)
		return 0;
	memcpy(q + m->n, p, s * n);
	m->p = q;
	m->n += s * n;
	m->p[m->n] = '\0';
	return s * n;
}

/* A call to the double's control port: the HTTP status, or -1 if there was
 * no answer.  *out (if not NULL) gets the parsed answer or NULL, owned by the
 * caller.  Asserts nothing: any thread may call it. */
static long ctl_try(const char *method, const char *path, const char *body, json_object **out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct mem m = { 0 };
	char url[512], auth[256];
	CURLcode rc;
	long code = 0;

	if (out)
		*out = NULL;
	if (!h)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", D.control_port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", D.control_token);
	hdr = curl_slist_append(hdr, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, slow_ms(10000));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (out && rc == CURLE_OK && m.p)
		*out = json_tokener_parse(m.p);
	free(m.p);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc == CURLE_OK ? code : -1;
}

/* The same for the test's thread: *out is deferred; fails the test when
 * there was no answer. */
static long ctl(const char *method, const char *path, const char *body, json_object **out)
{
	long code = ctl_try(method, path, body, out);

	if (out)
		defer_json(*out);
	if (code < 0)
		fail_msg("control %s %s: no answer", method, path);
	return code;
}

static void set_faults(const char *json)
{
	assert_int_equal(ctl("POST", "/faults", json, NULL), 200);
}

static void write_client_cas(const char *pem)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", D.client_ca_file);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(pem, f);
	fclose(f);
	assert_int_equal(rename(tmp, D.client_ca_file), 0);
}

/* Per-test teardown: release what the test holds; no faults, no extra
 * client CAs for the next test, whatever this one did. */
static int reset_test(void **state)
{
	(void)state;
	defer_run_all();
	set_faults("{}");
	assert_int_equal(ctl("POST", "/client-cas", "{\"pems\": \"\"}", NULL), 200);
	write_client_cas("");
	return 0;
}

/* A kubeconfig from a file, deferred. */
static hsmca_kubeconfig *load_kc(const char *path)
{
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kubeconfig_load(path, NULL, &kc, &err) < 0)
		fail_msg("%s", err.msg);
	return defer(free_kc_fn, kc);
}

/* A kubeconfig from text, deferred. */
static hsmca_kubeconfig *parse_kc(const char *yaml)
{
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kubeconfig_parse(yaml, strlen(yaml), "test", NULL, NULL, &kc, &err) < 0)
		fail_msg("%s", err.msg);
	return defer(free_kc_fn, kc);
}

/* A client, deferred (after its kubeconfig, so released before it). */
static hsmca_kube *open_client(hsmca_kubeconfig *kc, const hsmca_kube_options *opt)
{
	hsmca_kube *k = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kube_open(kc, opt, &k, &err) < 0)
		fail_msg("%s", err.msg);
	return defer(free_kube_fn, k);
}

/* A text file's contents, deferred. */
static char *read_text(const char *path)
{
	char *buf = defer_free(malloc(1 << 16));
	size_t len;
	FILE *f;

	assert_non_null(buf);
	f = fopen(path, "r");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	len = fread(buf, 1, (1 << 16) - 1, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* base64 of p, deferred. */
static char *b64s(const void *p, size_t n)
{
	char *out = NULL;

	assert_int_equal(hsmca_b64_encode(p, n, &out, NULL), 0);
	return defer_free(out);
}

/* A kubeconfig text for server/CA and a client certificate (deferred, wiped:
 * it holds the key). */
static char *kubeconfig_text(const char *server, const char *ca_pem, size_t ca_len,
			     const char *cert, size_t cert_len, const char *key, size_t key_len,
			     const char *tls_name)
{
	char *ca64 = b64s(ca_pem, ca_len), *c64 = b64s(cert, cert_len), *k64 = b64s(key, key_len);
	char *out = NULL;
	int n;

	if (!ca64 || !c64 || !k64) /* also tells GCC -O2 under ASan they are set */
		abort();
	n = asprintf(&out,
		     "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
		     "    server: %s\n    certificate-authority-data: %s\n%s%s%s"
		     "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
		     "    client-key-data: %s\ncontexts:\n- name: x\n  context: {cluster: c, "
		     "user: u}\ncurrent-context: x\n",
		     server, ca64, tls_name ? "    tls-server-name: " : "", tls_name ? tls_name : "",
		     tls_name ? "\n" : "", c64, k64);
	hsmca_wipe(k64, strlen(k64));
	release(k64);
	release(c64);
	release(ca64);
	assert_true(n > 0);
	return defer_wipe(out, (size_t)n);
}

/* A throwaway CA and a client certificate it signed, as PEM (each
 * deferred; the key wiped). */
struct testpki {
	char *ca_pem, *cert_pem, *key_pem;
	size_t ca_len, cert_len, key_len;
};

static char *pem_of(void (*w)(BIO *, void *), void *obj, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(b);
	w(b, obj);
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	if (out) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	*len = (size_t)n;
	BIO_free(b); /* a memory BIO's buffer is cleansed when freed */
	assert_non_null(out);
	return out;
}

static void w_cert(BIO *b, void *x)
{
	PEM_write_bio_X509(b, x);
}

static void w_key(BIO *b, void *k)
{
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

/* A certificate, deferred. */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
		       const char *org, bool ca)
{
	X509 *x = defer(free_x509_fn, X509_new());
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;

	assert_non_null(x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0xffffff) + (ca ? 0 : 1));
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -300);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	if (org)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)org, -1,
					   -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_NAME_free(n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	add_ext(x, &ctx, NID_key_usage,
		ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	if (!ca)
		add_ext(x, &ctx, NID_ext_key_usage, "clientAuth");
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static void make_testpki(struct testpki *p, const char *cn)
{
	EVP_PKEY *cakey = defer(free_pkey_fn, EVP_EC_gen("P-256"));
	EVP_PKEY *key = defer(free_pkey_fn, EVP_EC_gen("P-256"));
	X509 *ca, *cert;

	assert_non_null(cakey);
	assert_non_null(key);
	ca = make_cert(cakey, cakey, NULL, "intruder-ca", NULL, true);
	cert = make_cert(key, cakey, ca, cn, "system:masters", false);
	p->ca_pem = defer_free(pem_of(w_cert, ca, &p->ca_len));
	p->cert_pem = defer_free(pem_of(w_cert, cert, &p->cert_len));
	p->key_pem = pem_of(w_key, key, &p->key_len);
	defer_wipe(p->key_pem, p->key_len);
	release(cert);
	release(ca);
	release(key);
	release(cakey);
}

/* Parsed JSON from text, deferred. */
static json_object *json_of(const char *text)
{
	json_object *o = defer_json(json_tokener_parse(text));

	if (!o)
		fail_msg("bad JSON: %s", text);
	return o;
}

/* Objects (deferred) for the API: a Secret, a Pod. */
static json_object *secret_obj(const char *name, const char *key, const char *value)
{
	char *v64 = b64s(value, strlen(value));
	char *text = NULL;
	json_object *o;
	int n;

	n = asprintf(&text, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":"
			    "{\"name\":\"%s\",\"labels\":{\"app\":\"t\"}},\"data\":{\"%s\":\"%s\"}}",
		     name, key, v64);
	assert_true(n > 0);
	defer_wipe(text, (size_t)n);
	o = json_of(text);
	release(text);
	hsmca_wipe(v64, strlen(v64));
	release(v64);
	return o;
}

static json_object *pod_obj(const char *name, const char *labels_json)
{
	char *text = NULL;
	json_object *o;

	assert_true(asprintf(&text, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
				    "{\"name\":\"%s\",\"labels\":%s},\"spec\":{\"containers\":[{\"name\":"
				    "\"c\",\"image\":\"x\"}]}}",
			     name, labels_json) > 0);
	defer_free(text);
	o = json_of(text);
	release(text);
	return o;
}

static hsmca_kube_ref secrets_in(const char *ns, const char *name)
{
	hsmca_kube_ref r = { "v1", "secrets", ns, name };

	return r;
}

/* GET ref, deferred; fails the test on an error. */
static json_object *get_obj(hsmca_kube *k, const hsmca_kube_ref *ref)
{
	json_object *o = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kube_get(k, ref, &o, &err) < 0)
		fail_msg("%s", err.msg);
	return defer_json(o);
}

/* One data value of a Secret, deferred (wiped). */
static uint8_t *secret_value(json_object *sec, const char *key, size_t *len)
{
	uint8_t *data = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kube_secret_data(sec, key, &data, len, &err) < 0)
		fail_msg("%s", err.msg);
	return defer_secret(data, *len);
}

static int64_t now_ms(void)
{
	return kube_now_ms();
}

/* ---- basic calls ------------------------------------------------------------ */

static void test_version_and_token(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig), *tk = load_kc(D.token_kubeconfig);
	hsmca_kube *k = open_client(kc, NULL), *t = open_client(tk, NULL);
	hsmca_error err = { 0 };
	char v[64];

	(void)state;
	assert_int_equal(hsmca_kube_version(k, v, sizeof(v), &err), 0);
	assert_string_equal(v, "v1.33.1");
	assert_int_equal(hsmca_kube_version(t, v, sizeof(v), &err), 0);
	assert_null(kc->token);
	assert_non_null(tk->token);

	/* A wrong token is a 401, distinguishable by its code. */
	kube_free_secret_str(tk->token);
	tk->token = strdup("not-the-token");
	assert_int_equal(hsmca_kube_version(t, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 401));
	assert_string_equal(err.msg, "get /version: credential refused: Unauthorized (HTTP 401)");
}

static void test_crud(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref ref = secrets_in("t-crud", "s1");
	json_object *obj = secret_obj("s1", "k", "value-1"), *got = NULL;
	hsmca_error err = { 0 };
	uint8_t *data = NULL;
	size_t len = 0;
	char uid[64];
	int rc;

	(void)state;
	rc = hsmca_kube_create(k, &ref, obj, &got, &err);
	defer_json(got);
	if (rc != 0)
		fail_msg("%s", err.msg);
	snprintf(uid, sizeof(uid), "%s", hsmca_kube_str(got, "metadata.uid"));
	release(got);
	/* Creating it again: 409 AlreadyExists. */
	assert_int_equal(hsmca_kube_create(k, &ref, obj, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_string_equal(err.msg, "create secret t-crud/s1: already exists: secrets \"s1\" "
				     "already exists (HTTP 409)");
	release(obj);

	got = get_obj(k, &ref);
	assert_string_equal(hsmca_kube_str(got, "metadata.uid"), uid);
	data = secret_value(got, "k", &len);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "value-1", 7);
	release(data);
	data = NULL;
	rc = hsmca_kube_secret_data(got, "missing", &data, &len, &err);
	defer_secret(data, len);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, 404);

	/* PUT with a stale resourceVersion: 409 Conflict. */
	assert_int_equal(hsmca_kube_merge_patch(
				 k, &ref,
				 json_of("{\"metadata\":{\"labels\":{\"patched\":\"yes\"}}}"), NULL,
				 &err),
			 0);
	assert_int_equal(hsmca_kube_replace(k, &ref, got, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_non_null(strstr(err.msg, "update secret t-crud/s1: conflict: Operation cannot be "
					"fulfilled on secrets \"s1\""));
	release(got);
	got = get_obj(k, &ref);
	assert_string_equal(hsmca_kube_str(got, "metadata.labels.patched"), "yes");
	release(got);

	/* Delete with a wrong uid precondition is refused; with the right one it works. */
	assert_int_equal(hsmca_kube_delete(k, &ref, "00000000-0000-0000-0000-000000000000", &err),
			 -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_int_equal(hsmca_kube_delete(k, &ref, uid, &err), 0);
	got = NULL;
	rc = hsmca_kube_get(k, &ref, &got, &err);
	defer_json(got);
	assert_int_equal(rc, -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 404));
	assert_string_equal(err.msg, "get secret t-crud/s1: not found: secrets \"s1\" not found "
				     "(HTTP 404)");
	assert_int_equal(hsmca_kube_delete(k, &ref, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 404));

	/* Names that would change the URL are refused before any request. */
	ref.name = "../../x";
	got = NULL;
	rc = hsmca_kube_get(k, &ref, &got, &err);
	defer_json(got);
	assert_int_equal(rc, -1);
	assert_int_equal(err.code, 0);
	assert_non_null(strstr(err.msg, "invalid secrets name"));

	/* A custom resource. */
	{
		hsmca_kube_ref tcp = { "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes",
				       TENANT_NS, TENANT };

		got = get_obj(k, &tcp);
		assert_string_equal(hsmca_kube_str(got, "status.kubernetesResources.version.status"),
				    "Ready");
	}
}

/* Items of a list, failing the test on an error. */
static int count_items(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel)
{
	json_object *l = NULL, *items;
	hsmca_error err = { 0 };
	int rc = hsmca_kube_list(k, ref, sel, &l, &err);

	defer_json(l);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_true(json_object_object_get_ex(l, "items", &items));
	rc = (int)json_object_array_length(items);
	release(l);
	return rc;
}

static void test_label_selectors(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref pods = { "v1", "pods", "t-sel", NULL };
	const char *specs[][2] = {
		{ "pa", "{\"app\":\"a\",\"tier\":\"x\"}" },
		{ "pb", "{\"app\":\"b\"}" },
		{ "pc", "{\"app\":\"c\",\"tier\":\"y\"}" },
	};
	hsmca_error err = { 0 };
	json_object *l = NULL;
	int rc;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		json_object *p = pod_obj(specs[i][0], specs[i][1]);

		if (hsmca_kube_create(k, &pods, p, NULL, &err) != 0)
			fail_msg("%s", err.msg);
		release(p);
	}
	assert_int_equal(count_items(k, &pods, NULL), 3);
	assert_int_equal(count_items(k, &pods, "app=a"), 1);
	assert_int_equal(count_items(k, &pods, "app==b"), 1);
	assert_int_equal(count_items(k, &pods, "app in (a,b)"), 2);
	assert_int_equal(count_items(k, &pods, "app notin (a)"), 2);
	assert_int_equal(count_items(k, &pods, "app!=a"), 2);
	assert_int_equal(count_items(k, &pods, "tier"), 2);
	assert_int_equal(count_items(k, &pods, "!tier"), 1);
	assert_int_equal(count_items(k, &pods, "app in (a,c),tier=y"), 1);
	assert_int_equal(count_items(k, &pods, "app=zzz"), 0);
	rc = hsmca_kube_list(k, &pods, "app in (a", &l, &err);
	defer_json(l);
	assert_int_equal(rc, -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 400));
	assert_non_null(strstr(err.msg, "list pods in t-sel: bad request: unable to parse"));
}

struct mut {
	int calls;
	bool fail;
};

static int add_label(json_object *obj, void *arg, hsmca_error *err)
{
	struct mut *m = arg;
	json_object *md, *labels;

	m->calls++;
	if (m->fail)
		return hsmca_error_set(err, "the callback refused");
	if (!json_object_object_get_ex(obj, "metadata", &md))
		return hsmca_error_set(err, "the object has no metadata");
	if (!json_object_object_get_ex(md, "labels", &labels)) {
		labels = json_object_new_object();
		json_object_object_add(md, "labels", labels);
	}
	json_object_object_add(labels, "updated", json_object_new_string("yes"));
	return 0;
}

static void test_conflict_retry(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube_options opt = { .max_conflict_retries = 3 };
	hsmca_kube *k = open_client(kc, &opt);
	hsmca_kube_ref ref = secrets_in("t-conflict", "s");
	json_object *out = NULL;
	struct mut m = { 0 };
	hsmca_error err = { 0 };
	int rc;

	(void)state;
	if (hsmca_kube_create(k, &ref, secret_obj("s", "k", "v"), NULL, &err) != 0)
		fail_msg("%s", err.msg);

	/* Two forced conflicts: the third attempt stores the change. */
	set_faults("{\"conflict\": {\"count\": 2}}");
	rc = hsmca_kube_update(k, &ref, add_label, &m, &out, &err);
	defer_json(out);
	if (rc != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(m.calls, 3);
	assert_string_equal(hsmca_kube_str(out, "metadata.labels.updated"), "yes");

	/* More conflicts than retries: gives up with the 409. */
	m.calls = 0;
	set_faults("{\"conflict\": {\"count\": 10}}");
	assert_int_equal(hsmca_kube_update(k, &ref, add_label, &m, NULL, &err), -1);
	assert_int_equal(m.calls, 4);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_non_null(strstr(err.msg, "gave up after 4 conflicting updates"));
	set_faults("{}");

	/* The callback's own error wins, named with the object. */
	m.calls = 0;
	m.fail = true;
	assert_int_equal(hsmca_kube_update(k, &ref, add_label, &m, NULL, &err), -1);
	assert_string_equal(err.msg, "update secret t-conflict/s: the callback refused");
}

static int count_requests(const char *path)
{
	json_object *r = NULL, *reqs;
	int n = 0;

	assert_int_equal(ctl("GET", "/requests", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "requests", &reqs));
	for (size_t i = 0; i < json_object_array_length(reqs); i++) {
		const char *p = hsmca_kube_str(json_object_array_get_idx(reqs, i), "path");

		if (p && strcmp(p, path) == 0)
			n++;
	}
	release(r);
	return n;
}

/* Fail unless lo <= ms <= hi. */
static void assert_elapsed(int64_t ms, int64_t lo, int64_t hi, const char *what)
{
	if (ms < lo || ms > hi)
		fail_msg("%s took %lld ms, want %lld to %lld", what, (long long)ms, (long long)lo,
			 (long long)hi);
}

static void test_throttle(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube_options opt = { .max_throttle_retries = 3, .max_retry_after_s = 2 };
	hsmca_kube *k = open_client(kc, &opt);
	hsmca_error err = { 0 };
	int64_t t0, slack = slow_ms(8000);

	(void)state;
	/* Upper bounds below must stay under the 100 s the client must not wait. */
	if (slack > 60000)
		slack = 60000;
	assert_int_equal(ctl("DELETE", "/requests", NULL, NULL), 200);
	set_faults("{\"too_many_requests\": {\"count\": 2, \"retry_after\": 1}}");
	t0 = now_ms();
	if (hsmca_kube_version(k, NULL, 0, &err) != 0)
		fail_msg("%s", err.msg);
	/* Waited Retry-After twice. */
	assert_elapsed(now_ms() - t0, 1900, 2000 + slack, "two 429 with Retry-After: 1");
	assert_int_equal(count_requests("/version"), 3);

	/* Retry-After above the cap waits the cap, not 100 s. */
	set_faults("{\"too_many_requests\": {\"count\": 1, \"retry_after\": 100}}");
	t0 = now_ms();
	if (hsmca_kube_version(k, NULL, 0, &err) != 0)
		fail_msg("%s", err.msg);
	assert_elapsed(now_ms() - t0, 1900, 2000 + slack, "a 429 with Retry-After: 100");

	/* Still throttled after the allowed retries: the 429 is reported. */
	set_faults("{\"too_many_requests\": {\"count\": 10, \"retry_after\": 0}}");
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 429));
	assert_string_equal(err.msg, "get /version: too many requests: Too many requests, please "
				     "try again later. (HTTP 429)");
}

static void test_forbidden_message(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref ref = secrets_in("t-forbid", "locked");
	hsmca_error err = { 0 };

	(void)state;
	if (hsmca_kube_create(k, &ref, secret_obj("locked", "k", "v"), NULL, &err) != 0)
		fail_msg("%s", err.msg);
	set_faults("{\"forbid\": [{\"verb\": \"delete\", \"resource\": \"secrets\", "
		   "\"namespace\": \"t-forbid\", \"name\": \"locked\"}]}");
	assert_int_equal(hsmca_kube_delete(k, &ref, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 403));
	assert_string_equal(err.msg,
			    "delete secret t-forbid/locked: forbidden: secrets \"locked\" is "
			    "forbidden: User \"kubernetes-admin\" cannot delete resource \"secrets\" "
			    "in API group \"\" in the namespace \"t-forbid\" (HTTP 403)");
	get_obj(k, &ref); /* only delete is forbidden */
	set_faults("{}");
	assert_int_equal(hsmca_kube_delete(k, &ref, NULL, &err), 0);
}

static void test_unknown_client_cert(void **state)
{
	struct testpki p;
	char *ca = read_text(D.ca_file), *yaml, server[64], *esc;
	hsmca_kubeconfig *kc;
	hsmca_kube *k;
	hsmca_error err = { 0 };
	json_object *s;

	(void)state;
	make_testpki(&p, "intruder");
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", D.port);
	yaml = kubeconfig_text(server, ca, strlen(ca), p.cert_pem, p.cert_len, p.key_pem,
			       p.key_len, NULL);
	kc = parse_kc(yaml);
	k = open_client(kc, NULL);

	/* Handshake completes; the request is answered 401 with a Status. */
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 401));
	assert_non_null(strstr(err.msg, "credential refused"));

	/* Accepted at runtime through the control port ... */
	s = defer_json(json_object_new_object());
	json_object_object_add(s, "pems", json_object_new_string(p.ca_pem));
	esc = defer_free(strdup(json_object_to_json_string(s)));
	release(s);
	assert_int_equal(ctl("POST", "/client-cas", esc, NULL), 200);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), 0);
	/* ... and refused again on the same kept-alive connection once removed. */
	assert_int_equal(ctl("POST", "/client-cas", "{\"pems\": \"\"}", NULL), 200);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 401));

	/* The --client-ca-file (what a Talos node's acceptedCAs would drive). */
	write_client_cas(p.ca_pem);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), 0);
	write_client_cas("");
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 401));
	release(k);
	release(kc);
	release(yaml);

	/* Trusting the wrong CA for the server: a TLS failure, not a 401. */
	yaml = kubeconfig_text(server, p.ca_pem, p.ca_len, p.cert_pem, p.cert_len, p.key_pem,
			       p.key_len, NULL);
	kc = parse_kc(yaml);
	k = open_client(kc, NULL);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_TLS_UNTRUSTED(&err));
	assert_non_null(strstr(err.msg, "the API server's certificate did not verify"));
	assert_non_null(strstr(err.msg, "(curl CURLE_PEER_FAILED_VERIFICATION)"));
}

static void test_tls_server_name(void **state)
{
	hsmca_kubeconfig *base = load_kc(D.kubeconfig), *kc;
	char *yaml, server[64];
	hsmca_kube *k;
	hsmca_error err = { 0 };

	(void)state;
	/* The serving certificate has SAN DNS kubernetes.default.svc: verify that
	 * name while connecting to 127.0.0.1. */
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", D.port);
	yaml = kubeconfig_text(server, (char *)base->ca_pem, base->ca_len, (char *)base->cert_pem,
			       base->cert_len, (char *)base->key_pem, base->key_len,
			       "kubernetes.default.svc");
	kc = parse_kc(yaml);
	k = open_client(kc, NULL);
	if (hsmca_kube_version(k, NULL, 0, &err) < 0)
		fail_msg("%s", err.msg);
	release(k);
	release(kc);
	release(yaml);

	yaml = kubeconfig_text(server, (char *)base->ca_pem, base->ca_len, (char *)base->cert_pem,
			       base->cert_len, (char *)base->key_pem, base->key_len,
			       "wrong.example");
	kc = parse_kc(yaml);
	k = open_client(kc, NULL);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_TLS_UNTRUSTED(&err));
}

/* ---- watch ------------------------------------------------------------------ */

struct wstate {
	hsmca_kube *k;
	int lists;
	const char *want; /* pod name whose ADDED ends the watch */
	bool compact_on_first_list;
	bool bump_on_first_list;
	bool create_on_list;
};

/* Watch callbacks run inside hsmca_kube_watch: they report failures as
 * errors (-1) instead of asserting, so the watch unwinds normally. */
static int watch_fn(void *arg, const char *type, json_object *object, json_object *current,
		    hsmca_error *err)
{
	struct wstate *w = arg;

	if (strcmp(type, "LIST") == 0) {
		w->lists++;
		if (w->bump_on_first_list && w->lists == 1) {
			hsmca_kube_ref cms = { "v1", "configmaps", "t-watch", NULL };
			json_object *cm = json_tokener_parse(
				"{\"metadata\":{\"generateName\":\"bump-\"},\"data\":{\"a\":\"b\"}}");
			int rc = hsmca_kube_create(w->k, &cms, cm, NULL, err);

			json_object_put(cm);
			if (rc < 0)
				return -1;
		}
		/* Compacting after a write makes the list's resourceVersion too old. */
		if (w->compact_on_first_list && w->lists == 1 &&
		    ctl_try("POST", "/compact", NULL, NULL) != 200)
			return hsmca_error_set(err, "test: POST /compact failed");
		if (w->create_on_list && w->lists == 2) {
			hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
			char text[256];
			json_object *p;
			int rc;

			snprintf(text, sizeof(text),
				 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
				 "\"%s\",\"labels\":{\"app\":\"w\"}},\"spec\":{\"containers\":[{"
				 "\"name\":\"c\",\"image\":\"x\"}]}}",
				 w->want);
			p = json_tokener_parse(text);
			/* The watch has its own connection: the client is free here. */
			rc = hsmca_kube_create(w->k, &pods, p, NULL, err);
			json_object_put(p);
			if (rc < 0)
				return -1;
		}
		return 0;
	}
	if (strcmp(type, "ADDED") == 0 && w->want &&
	    strcmp(hsmca_kube_str(object, "metadata.name"), w->want) == 0) {
		char key[128];

		snprintf(key, sizeof(key), "t-watch/%s", w->want);
		if (!json_object_object_get_ex(current, key, NULL))
			return hsmca_error_set(err, "test: %s is not in the watch's view", key);
		return 1;
	}
	return 0;
}

static const char *watch_rv_of(json_object *req)
{
	const char *q = hsmca_kube_str(req, "query");
	const char *p = q ? strstr(q, "resourceVersion=") : NULL;

	return p ? p + strlen("resourceVersion=") : NULL;
}

/* Watch requests the double has seen for selector (as in the query string,
 * e.g. "app%3Dbm"): their count, and the resourceVersions of the first
 * two in rv[].  -1 if the control port did not answer. */
static int watch_requests(const char *selector, long rv[2])
{
	json_object *r = NULL, *reqs;
	char sel[64];
	int n = 0;

	snprintf(sel, sizeof(sel), "labelSelector=%s", selector);
	if (ctl_try("GET", "/requests", NULL, &r) != 200 || !r ||
	    !json_object_object_get_ex(r, "requests", &reqs)) {
		json_object_put(r);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(reqs); i++) {
		json_object *q = json_object_array_get_idx(reqs, i);
		const char *query = hsmca_kube_str(q, "query"), *from = watch_rv_of(q);

		if (!query || !strstr(query, "watch=1") || !strstr(query, sel))
			continue;
		if (n < 2)
			rv[n] = from ? atol(from) : -1;
		n++;
	}
	json_object_put(r);
	return n;
}

/* A helper thread for the resume test: once the double has seen the
 * resumed watch request, create the pod whose ADDED ends the watch.  It
 * asserts nothing (cmocka is not thread-safe); the test reads `error`. */
struct marker {
	const char *name;
	int64_t deadline_ms;
	atomic_bool stop;
	char error[HSMCA_ERROR_MAX];
};

static void *create_marker_after_resume(void *arg)
{
	struct marker *m = arg;
	hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
	hsmca_kubeconfig *kc = NULL;
	hsmca_kube *k = NULL;
	hsmca_error err = { 0 };
	json_object *p = NULL;
	char text[256];
	long rv[2];
	int n = 0;

	while (!atomic_load(&m->stop) && kube_now_ms() < m->deadline_ms &&
	       (n = watch_requests("app%3Dbm", rv)) < 2)
		usleep(20000);
	if (n < 2) {
		snprintf(m->error, sizeof(m->error), "%s",
			 atomic_load(&m->stop) ? "" : "the watch was not resumed in time");
		return NULL;
	}
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"labels\":"
		 "{\"app\":\"bm\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
		 m->name);
	p = json_tokener_parse(text);
	if (hsmca_kubeconfig_load(D.kubeconfig, NULL, &kc, &err) < 0 ||
	    hsmca_kube_open(kc, NULL, &k, &err) < 0 || hsmca_kube_create(k, &pods, p, NULL, &err) < 0)
		snprintf(m->error, sizeof(m->error), "create %s: %s", m->name, err.msg);
	json_object_put(p);
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
	return NULL;
}

static void test_watch_bookmarks_and_resume(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
	hsmca_kube_watch_stats st;
	struct wstate w = { .k = k, .want = "bm-marker", .bump_on_first_list = true };
	struct marker m = { .name = "bm-marker" };
	hsmca_error err = { 0 };
	long timeout = slow_ms(20000), rv[2] = { -1, -1 };
	pthread_t th;
	int64_t t0;
	int rc;

	(void)state;
	assert_int_equal(ctl("DELETE", "/requests", NULL, NULL), 200);
	/* The first stream is cut after two lines: two bookmarks, as nothing
	 * else it watches changes.  The callback's write after the LIST (a
	 * ConfigMap) makes those bookmarks newer than the list.  The resumed
	 * stream ends the watch with the marker pod's ADDED. */
	set_faults("{\"watch_cut\": {\"count\": 1, \"after_events\": 2}}");
	m.deadline_ms = kube_now_ms() + timeout;
	atomic_init(&m.stop, false);
	assert_int_equal(pthread_create(&th, NULL, create_marker_after_resume, &m), 0);
	rc = hsmca_kube_watch(k, &pods, "app=bm", timeout, watch_fn, &w, &st, &err);
	atomic_store(&m.stop, true);
	pthread_join(th, NULL);
	if (m.error[0])
		fail_msg("marker thread: %s", m.error);
	if (rc != 0)
		fail_msg("watch: %s", err.msg);
	assert_int_equal(st.lists, 1);
	assert_int_equal(w.lists, 1);
	assert_true(st.bookmarks >= 2);
	assert_true(st.watches >= 2);
	assert_true(st.reconnects >= 1);
	assert_int_equal(st.expired, 0);

	/* The resumed watch asked for the bookmarks' resourceVersion, newer
	 * than the list's the first one asked for. */
	assert_true(watch_requests("app%3Dbm", rv) >= 2);
	assert_true(rv[0] > 0);
	assert_true(rv[1] > rv[0]);
	assert_true(atol(st.resource_version) > rv[1]);

	/* A condition never reached: the deadline ends the watch, not before. */
	w = (struct wstate){ .k = k };
	t0 = now_ms();
	assert_int_equal(hsmca_kube_watch(k, &pods, "app=never", 1500, watch_fn, &w, &st, &err),
			 -1);
	assert_elapsed(now_ms() - t0, 1500, 1500 + slow_ms(5000), "a watch with a 1500 ms deadline");
	assert_int_equal(err.code, HSMCA_KUBE_ERR_DEADLINE);
	assert_non_null(
		strstr(err.msg, "watch pods in t-watch: condition not reached within 1500 ms"));
	assert_int_equal(st.lists, 1);
	assert_int_equal(w.lists, 1);
}

static void test_watch_relist_on_410(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
	hsmca_kube_watch_stats st;
	hsmca_error err = { 0 };
	const char *modes[] = { "event", "http" };
	long timeout = slow_ms(10000);

	(void)state;
	/* A compacted history: the ERROR event with a 410 Status, then re-list. */
	{
		struct wstate w = { .k = k, .want = "late-compact", .compact_on_first_list = true,
				    .bump_on_first_list = true, .create_on_list = true };

		if (hsmca_kube_watch(k, &pods, "app=w", timeout, watch_fn, &w, &st, &err) < 0)
			fail_msg("%s", err.msg);
		assert_int_equal(st.lists, 2);
		assert_int_equal(st.expired, 1);
		assert_int_equal(w.lists, 2);
	}
	/* Forced 410s, as an ERROR event in a 200 stream and as HTTP 410. */
	for (size_t i = 0; i < 2; i++) {
		struct wstate w = { .k = k, .want = i ? "late-http" : "late-event",
				    .create_on_list = true };
		char f[128];

		snprintf(f, sizeof(f), "{\"watch_gone\": {\"count\": 1, \"mode\": \"%s\"}}",
			 modes[i]);
		set_faults(f);
		if (hsmca_kube_watch(k, &pods, "app=w", timeout, watch_fn, &w, &st, &err) < 0)
			fail_msg("%s: %s", modes[i], err.msg);
		assert_int_equal(st.lists, 2);
		assert_int_equal(st.expired, 1);
		assert_true(st.events >= 1);
	}
}

/* ---- Kamaji ----------------------------------------------------------------- */

static const char *const seed_suffixes[] = {
	"ca", "sa-certificate", "api-server-certificate", "api-server-kubelet-client-certificate",
	"front-proxy-client-certificate", "datastore-certificate", "konnectivity-certificate",
	"admin-kubeconfig", "controller-manager-kubeconfig", "scheduler-kubeconfig",
	"konnectivity-kubeconfig",
};

struct secrets_wait {
	char old_uid[11][64];
	char old_ca[4096];
};

static int secrets_recreated(void *arg, const char *type, json_object *object,
			     json_object *current, hsmca_error *err)
{
	struct secrets_wait *s = arg;
	json_object *sec;
	uint8_t *ca = NULL;
	size_t len = 0;
	bool same;

	(void)type;
	(void)object;
	for (size_t i = 0; i < 11; i++) {
		char key[128];
		const char *uid;

		snprintf(key, sizeof(key), "%s/%s-%s", TENANT_NS, TENANT, seed_suffixes[i]);
		if (!json_object_object_get_ex(current, key, &sec))
			return 0;
		uid = hsmca_kube_str(sec, "metadata.uid");
		if (!uid || strcmp(uid, s->old_uid[i]) == 0)
			return 0;
	}
	if (!json_object_object_get_ex(current, TENANT_NS "/" TENANT "-ca", &sec))
		return 0;
	if (hsmca_kube_secret_data(sec, "ca.crt", &ca, &len, err) < 0)
		return -1;
	same = len == strlen(s->old_ca) && memcmp(ca, s->old_ca, len) == 0;
	free(ca);
	return same ? 0 : 1;
}

struct pods_wait {
	char old[8][64];
	int nold;
	int want;
};

static int pods_replaced(void *arg, const char *type, json_object *object, json_object *current,
			 hsmca_error *err)
{
	struct pods_wait *p = arg;
	int ready = 0, total = 0;

	(void)type;
	(void)object;
	(void)err;
	json_object_object_foreach(current, key, pod)
	{
		const char *uid = hsmca_kube_str(pod, "metadata.uid");

		(void)key;
		total++;
		for (int i = 0; i < p->nold; i++)
			if (uid && strcmp(uid, p->old[i]) == 0)
				return 0; /* an old pod is still there */
		if (hsmca_kube_pod_ready(pod))
			ready++;
	}
	return total == p->want && ready == p->want;
}

/* A LIST, deferred; fails the test on an error. */
static json_object *list_items(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel)
{
	json_object *l = NULL, *items;
	hsmca_error err = { 0 };
	int rc = hsmca_kube_list(k, ref, sel, &l, &err);

	defer_json(l);
	if (rc < 0)
		fail_msg("%s", err.msg);
	assert_true(json_object_object_get_ex(l, "items", &items));
	return items;
}

static void record_uids(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel,
			struct pods_wait *p)
{
	json_object *items = list_items(k, ref, sel);

	p->nold = (int)json_object_array_length(items);
	assert_true(p->nold > 0 && p->nold <= 8);
	for (int i = 0; i < p->nold; i++)
		snprintf(p->old[i], sizeof(p->old[i]), "%s",
			 hsmca_kube_str(json_object_array_get_idx(items, (size_t)i),
					"metadata.uid"));
}

static void delete_pods(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel)
{
	json_object *items = list_items(k, ref, sel);
	hsmca_error err = { 0 };

	for (size_t i = 0; i < json_object_array_length(items); i++) {
		hsmca_kube_ref one = *ref;

		one.name = hsmca_kube_str(json_object_array_get_idx(items, i), "metadata.name");
		if (hsmca_kube_delete(k, &one, NULL, &err) < 0)
			fail_msg("%s", err.msg);
	}
}

/* The admin kubeconfig text (key super-admin.conf) from the tenant's Secret,
 * deferred (wiped). */
static char *tenant_admin_conf(hsmca_kube *k)
{
	hsmca_kube_ref ref = secrets_in(TENANT_NS, TENANT "-admin-kubeconfig");
	json_object *sec = get_obj(k, &ref);
	size_t len = 0;
	char *conf = (char *)secret_value(sec, "super-admin.conf", &len);

	release(sec);
	return conf;
}

static long violations(void)
{
	json_object *r = NULL, *v;
	long n;

	assert_int_equal(ctl("GET", "/violations", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "violations", &v));
	n = (long)json_object_array_length(v);
	release(r);
	return n;
}

/* Watch until fn returns 1, failing the test on an error or the deadline. */
static void watch_until(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel,
			hsmca_kube_watch_fn fn, void *arg)
{
	hsmca_kube_watch_stats st;
	hsmca_error err = { 0 };

	if (hsmca_kube_watch(k, ref, sel, slow_ms(20000), fn, arg, &st, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_kamaji_seed_rotation(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig), *old_kc, *new_kc, *mixed_kc;
	hsmca_kube *k = open_client(kc, NULL), *tk;
	hsmca_kube_ref secrets = { "v1", "secrets", TENANT_NS, NULL };
	hsmca_kube_ref tpods = { "v1", "pods", TENANT_NS, NULL };
	hsmca_kube_ref kpods = { "v1", "pods", KAMAJI_NS, NULL };
	struct secrets_wait sw = { 0 };
	struct pods_wait vms = { .want = 2 }, ctrl = { .want = 1 }, csi = { .want = 2 };
	hsmca_error err = { 0 };
	char *old_conf, *new_conf, *mixed, v[64], server[64];
	json_object *sec;
	uint8_t *ca;
	size_t len = 0;

	(void)state;
	/* Before: the tenant's admin kubeconfig works on the tenant API server. */
	old_conf = tenant_admin_conf(k);
	old_kc = parse_kc(old_conf);
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", D.tenant_port);
	assert_string_equal(old_kc->server, server);
	tk = open_client(old_kc, NULL);
	if (hsmca_kube_version(tk, v, sizeof(v), &err) < 0)
		fail_msg("%s", err.msg);
	release(tk);

	for (size_t i = 0; i < 11; i++) {
		char name[128];
		hsmca_kube_ref one = secrets;

		snprintf(name, sizeof(name), "%s-%s", TENANT, seed_suffixes[i]);
		one.name = name;
		sec = get_obj(k, &one);
		snprintf(sw.old_uid[i], sizeof(sw.old_uid[i]), "%s",
			 hsmca_kube_str(sec, "metadata.uid"));
		if (i == 0) {
			ca = secret_value(sec, "ca.crt", &len);
			assert_true(len < sizeof(sw.old_ca));
			memcpy(sw.old_ca, ca, len);
			release(ca);
		}
		release(sec);
	}
	record_uids(k, &tpods, "kubevirt.io=virt-launcher", &vms);
	record_uids(k, &kpods, "app.kubernetes.io/name=kamaji", &ctrl);
	record_uids(k, &tpods, "app=" TENANT "-kcsi-driver", &csi);

	/* The seed procedure. */
	for (size_t i = 0; i < 11; i++) {
		char name[128];
		hsmca_kube_ref one = secrets;

		snprintf(name, sizeof(name), "%s-%s", TENANT, seed_suffixes[i]);
		one.name = name;
		if (hsmca_kube_delete(k, &one, NULL, &err) < 0)
			fail_msg("%s", err.msg);
	}
	delete_pods(k, &kpods, "app.kubernetes.io/name=kamaji");
	delete_pods(k, &tpods, "app=" TENANT "-kcsi-driver");

	/* Bounded waits, by watching. */
	watch_until(k, &secrets, "kamaji.clastix.io/name=" TENANT, secrets_recreated, &sw);
	watch_until(k, &tpods, "kubevirt.io=virt-launcher", pods_replaced, &vms);
	watch_until(k, &kpods, "app.kubernetes.io/name=kamaji", pods_replaced, &ctrl);
	watch_until(k, &tpods, "app=" TENANT "-kcsi-driver", pods_replaced, &csi);

	/* After: the new kubeconfig works on the tenant API server ... */
	new_conf = tenant_admin_conf(k);
	assert_string_not_equal(new_conf, old_conf);
	new_kc = parse_kc(new_conf);
	tk = open_client(new_kc, NULL);
	if (hsmca_kube_version(tk, v, sizeof(v), &err) < 0)
		fail_msg("%s", err.msg);
	release(tk);

	/* ... the whole old one fails at server verification (its CA is gone) ... */
	tk = open_client(old_kc, NULL);
	assert_int_equal(hsmca_kube_version(tk, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_TLS_UNTRUSTED(&err));
	release(tk);

	/* ... and the old client certificate, with the new server CA, gets 401. */
	mixed = kubeconfig_text(server, (char *)new_kc->ca_pem, new_kc->ca_len,
				(char *)old_kc->cert_pem, old_kc->cert_len,
				(char *)old_kc->key_pem, old_kc->key_len, NULL);
	mixed_kc = parse_kc(mixed);
	tk = open_client(mixed_kc, NULL);
	assert_int_equal(hsmca_kube_version(tk, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 401));

	/* The management client never sent a private key. */
	assert_int_equal(violations(), 0);
}

struct tcp_wait {
	hsmca_kube *k;
	bool patched;
	bool saw_rotating;
};

static int tcp_rotation(void *arg, const char *type, json_object *object, json_object *current,
			hsmca_error *err)
{
	struct tcp_wait *t = arg;
	const char *st;
	json_object *tcp;

	(void)object;
	if (strcmp(type, "LIST") == 0 && !t->patched) {
		hsmca_kube_ref ca = secrets_in(TENANT_NS, TENANT "-ca");
		json_object *patch = json_tokener_parse(
			"{\"metadata\":{\"annotations\":{\"certs.kamaji.clastix.io/rotate\":\"\"}}}");
		int rc = hsmca_kube_merge_patch(t->k, &ca, patch, NULL, err);

		json_object_put(patch);
		t->patched = true;
		return rc < 0 ? -1 : 0;
	}
	if (!json_object_object_get_ex(current, TENANT_NS "/" TENANT, &tcp))
		return 0;
	st = hsmca_kube_str(tcp, "status.kubernetesResources.version.status");
	if (st && strcmp(st, "CertificateAuthorityRotating") == 0)
		t->saw_rotating = true;
	return t->saw_rotating && st && strcmp(st, "Ready") == 0;
}

static void test_kamaji_annotation_rotation(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref tcp = { "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes", TENANT_NS,
			       TENANT };
	hsmca_kube_ref ca = secrets_in(TENANT_NS, TENANT "-ca");
	struct tcp_wait t = { .k = k };
	json_object *before, *after;

	(void)state;
	before = get_obj(k, &ca);
	watch_until(k, &tcp, NULL, tcp_rotation, &t);
	assert_true(t.saw_rotating);
	after = get_obj(k, &ca);
	{
		json_object *d1, *d2, *c1, *c2;

		assert_true(json_object_object_get_ex(before, "data", &d1));
		assert_true(json_object_object_get_ex(after, "data", &d2));
		assert_true(json_object_object_get_ex(d1, "ca.crt", &c1));
		assert_true(json_object_object_get_ex(d2, "ca.crt", &c2));
		assert_string_not_equal(json_object_get_string(c1), json_object_get_string(c2));
	}
	/* As Kamaji does (internal/utilities/certs_rotation.go): the annotation
	 * is kept, its value now the RFC 3339 time of the rotation; the uid is
	 * kept (rotated in place). */
	{
		json_object *md, *ann, *v;

		assert_true(json_object_object_get_ex(after, "metadata", &md));
		assert_true(json_object_object_get_ex(md, "annotations", &ann));
		assert_true(json_object_object_get_ex(ann, "certs.kamaji.clastix.io/rotate", &v));
		assert_int_equal(strlen(json_object_get_string(v)), 20);
		assert_int_equal(json_object_get_string(v)[10], 'T');
	}
	assert_string_equal(hsmca_kube_str(before, "metadata.uid"),
			    hsmca_kube_str(after, "metadata.uid"));
}

static int csi_ready(void *arg, const char *type, json_object *object, json_object *current,
		     hsmca_error *err)
{
	int ready = 0;

	(void)arg;
	(void)type;
	(void)object;
	(void)err;
	json_object_object_foreach(current, key, pod)
	{
		(void)key;
		if (hsmca_kube_pod_ready(pod))
			ready++;
	}
	return ready == 2;
}

static void test_pod_never_ready(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref tpods = { "v1", "pods", TENANT_NS, NULL };
	hsmca_kube_watch_stats st;
	hsmca_error err = { 0 };

	(void)state;
	set_faults("{\"pod_never_ready\": true}");
	delete_pods(k, &tpods, "app=" TENANT "-kcsi-driver");
	assert_int_equal(hsmca_kube_watch(k, &tpods, "app=" TENANT "-kcsi-driver", 1500, csi_ready,
					  NULL, &st, &err),
			 -1);
	assert_int_equal(err.code, HSMCA_KUBE_ERR_DEADLINE);
	set_faults("{}");
	watch_until(k, &tpods, "app=" TENANT "-kcsi-driver", csi_ready, NULL);
}

static void test_oracle(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref ref = secrets_in("t-oracle", "leak");
	hsmca_kube_ref kamaji = secrets_in(TENANT_NS, TENANT "-sa-certificate");
	struct testpki p;
	json_object *sec, *r = NULL, *v;
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(ctl("DELETE", "/violations", NULL, NULL), 200);
	/* Writing back a key the double issued itself is no violation. */
	sec = get_obj(k, &kamaji);
	if (hsmca_kube_replace(k, &kamaji, sec, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	release(sec);
	assert_int_equal(violations(), 0);

	/* A key the double never saw is recorded (its public half only). */
	make_testpki(&p, "leaker");
	if (hsmca_kube_create(k, &ref, secret_obj("leak", "tls.key", p.key_pem), NULL, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(ctl("GET", "/violations", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "violations", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(hsmca_kube_str(json_object_array_get_idx(v, 0), "path"),
			    "/api/v1/namespaces/t-oracle/secrets");
	assert_non_null(hsmca_kube_str(json_object_array_get_idx(v, 0), "public_key_sha256"));
	assert_null(strstr(json_object_to_json_string(r), "PRIVATE KEY"));
	assert_int_equal(ctl("DELETE", "/violations", NULL, NULL), 200);
}

#define TEST(f) cmocka_unit_test_teardown(f, reset_test)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_version_and_token),
		TEST(test_crud),
		TEST(test_label_selectors),
		TEST(test_conflict_retry),
		TEST(test_throttle),
		TEST(test_forbidden_message),
		TEST(test_unknown_client_cert),
		TEST(test_tls_server_name),
		TEST(test_watch_bookmarks_and_resume),
		TEST(test_watch_relist_on_410),
		TEST(test_kamaji_seed_rotation),
		TEST(test_kamaji_annotation_rotation),
		TEST(test_pod_never_ready),
		TEST(test_oracle),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, start_double, stop_all);
}
