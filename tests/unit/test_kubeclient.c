/* Unit tests for the Kubernetes API client (src/kube/kubeclient.c, kubewatch.c)
 * against the Kubernetes API double tests/doubles/kube_double.py, started
 * with /usr/bin/python3 for the whole group and stopped by its PID. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

#include "kube/kube_internal.h"
#include "kube/kubeclient.h"
#include "kube/kubeconfig.h"
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
	for (int i = 0; i < 600 && stat(ready, &st) != 0; i++) {
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
		fail_msg("kube_double did not write %s in 30 s", ready);
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

/* A call to the double's control port.  Returns the HTTP status. */
static long ctl(const char *method, const char *path, const char *body, json_object **out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct mem m = { 0 };
	char url[512], auth[256];
	long code = 0;

	assert_non_null(h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", D.control_port, path);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", D.control_token);
	hdr = curl_slist_append(hdr, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &m);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (out)
		*out = m.p ? json_tokener_parse(m.p) : NULL;
	free(m.p);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return code;
}

static void set_faults(const char *json)
{
	assert_int_equal(ctl("POST", "/faults", json, NULL), 200);
}

static hsmca_kubeconfig *load_kc(const char *path)
{
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kubeconfig_load(path, NULL, &kc, &err) < 0)
		fail_msg("%s", err.msg);
	return kc;
}

static hsmca_kubeconfig *parse_kc(const char *yaml)
{
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kubeconfig_parse(yaml, strlen(yaml), "test", NULL, NULL, &kc, &err) < 0)
		fail_msg("%s", err.msg);
	return kc;
}

static hsmca_kube *open_client(hsmca_kubeconfig *kc, const hsmca_kube_options *opt)
{
	hsmca_kube *k = NULL;
	hsmca_error err = { 0 };

	if (hsmca_kube_open(kc, opt, &k, &err) < 0)
		fail_msg("%s", err.msg);
	return k;
}

static char *read_text(const char *path)
{
	uint8_t *buf = NULL;
	size_t len;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	buf = malloc(1 << 16);
	assert_non_null(buf);
	len = fread(buf, 1, (1 << 16) - 1, f);
	buf[len] = '\0';
	fclose(f);
	return (char *)buf;
}

static char *b64s(const void *p, size_t n)
{
	char *out = NULL;

	assert_int_equal(kube_b64_encode(p, n, &out, NULL), 0);
	return out;
}

/* A kubeconfig text for server/CA and a client certificate. */
static char *kubeconfig_text(const char *server, const char *ca_pem, size_t ca_len,
			     const char *cert, size_t cert_len, const char *key, size_t key_len,
			     const char *tls_name)
{
	char *ca64 = b64s(ca_pem, ca_len), *c64 = b64s(cert, cert_len), *k64 = b64s(key, key_len);
	char *out = NULL;

	assert_true(asprintf(&out,
			     "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
			     "    server: %s\n    certificate-authority-data: %s\n%s%s%s"
			     "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
			     "    client-key-data: %s\ncontexts:\n- name: x\n  context: {cluster: c, "
			     "user: u}\ncurrent-context: x\n",
			     server, ca64, tls_name ? "    tls-server-name: " : "",
			     tls_name ? tls_name : "", tls_name ? "\n" : "", c64, k64) > 0);
	free(ca64);
	free(c64);
	free(k64);
	return out;
}

/* A throwaway CA and a client certificate it signed, as PEM. */
struct testpki {
	char *ca_pem, *cert_pem, *key_pem;
	size_t ca_len, cert_len, key_len;
};

static char *pem_of(void (*w)(BIO *, void *), void *obj, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	w(b, obj);
	n = BIO_get_mem_data(b, &data);
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
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

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
		       const char *org, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0xffffff) + (ca ? 0 : 1));
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -300);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	if (org)
		X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)org, -1,
					   -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				  ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
				  ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ca) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "clientAuth");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

static void make_testpki(struct testpki *p, const char *cn)
{
	EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	X509 *ca, *cert;

	assert_non_null(cakey);
	assert_non_null(key);
	ca = make_cert(cakey, cakey, NULL, "intruder-ca", NULL, true);
	cert = make_cert(key, cakey, ca, cn, "system:masters", false);
	p->ca_pem = pem_of(w_cert, ca, &p->ca_len);
	p->cert_pem = pem_of(w_cert, cert, &p->cert_len);
	p->key_pem = pem_of(w_key, key, &p->key_len);
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
}

static void free_testpki(struct testpki *p)
{
	free(p->ca_pem);
	free(p->cert_pem);
	free(p->key_pem);
}

static json_object *secret_obj(const char *name, const char *key, const char *value)
{
	char *v64 = b64s(value, strlen(value));
	char *text = NULL;
	json_object *o;

	assert_true(asprintf(&text, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":"
				    "{\"name\":\"%s\",\"labels\":{\"app\":\"t\"}},\"data\":{\"%s\":\"%s\"}}",
			     name, key, v64) > 0);
	o = json_tokener_parse(text);
	assert_non_null(o);
	free(text);
	free(v64);
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
	o = json_tokener_parse(text);
	assert_non_null(o);
	free(text);
	return o;
}

static hsmca_kube_ref secrets_in(const char *ns, const char *name)
{
	hsmca_kube_ref r = { "v1", "secrets", ns, name };

	return r;
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
	hsmca_kube_free(k);
	hsmca_kube_free(t);
	hsmca_kubeconfig_free(kc);
	hsmca_kubeconfig_free(tk);
}

static void test_crud(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref ref = secrets_in("t-crud", "s1");
	json_object *obj = secret_obj("s1", "k", "value-1"), *got = NULL, *patch;
	hsmca_error err = { 0 };
	uint8_t *data = NULL;
	size_t len = 0;
	char uid[64];

	(void)state;
	assert_int_equal(hsmca_kube_create(k, &ref, obj, &got, &err), 0);
	snprintf(uid, sizeof(uid), "%s", hsmca_kube_str(got, "metadata.uid"));
	json_object_put(got);
	got = NULL;
	/* Creating it again: 409 AlreadyExists. */
	assert_int_equal(hsmca_kube_create(k, &ref, obj, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_string_equal(err.msg, "create secret t-crud/s1: already exists: secrets \"s1\" "
				     "already exists (HTTP 409)");
	json_object_put(obj);

	assert_int_equal(hsmca_kube_get(k, &ref, &got, &err), 0);
	assert_string_equal(hsmca_kube_str(got, "metadata.uid"), uid);
	assert_int_equal(hsmca_kube_secret_data(got, "k", &data, &len, &err), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "value-1", 7);
	kube_free_secret(data, len);
	assert_int_equal(hsmca_kube_secret_data(got, "missing", &data, &len, &err), -1);
	assert_int_equal(err.code, 404);

	/* PUT with a stale resourceVersion: 409 Conflict. */
	patch = json_tokener_parse("{\"metadata\":{\"labels\":{\"patched\":\"yes\"}}}");
	assert_int_equal(hsmca_kube_merge_patch(k, &ref, patch, NULL, &err), 0);
	json_object_put(patch);
	assert_int_equal(hsmca_kube_replace(k, &ref, got, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_non_null(strstr(err.msg, "update secret t-crud/s1: conflict: Operation cannot be "
					"fulfilled on secrets \"s1\""));
	json_object_put(got);
	got = NULL;
	assert_int_equal(hsmca_kube_get(k, &ref, &got, &err), 0);
	assert_string_equal(hsmca_kube_str(got, "metadata.labels.patched"), "yes");
	json_object_put(got);

	/* Delete with a wrong uid precondition is refused; with the right one it works. */
	assert_int_equal(hsmca_kube_delete(k, &ref, "00000000-0000-0000-0000-000000000000", &err),
			 -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 409));
	assert_int_equal(hsmca_kube_delete(k, &ref, uid, &err), 0);
	assert_int_equal(hsmca_kube_get(k, &ref, &got, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 404));
	assert_string_equal(err.msg, "get secret t-crud/s1: not found: secrets \"s1\" not found "
				     "(HTTP 404)");
	assert_int_equal(hsmca_kube_delete(k, &ref, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 404));

	/* Names that would change the URL are refused before any request. */
	ref.name = "../../x";
	assert_int_equal(hsmca_kube_get(k, &ref, &got, &err), -1);
	assert_int_equal(err.code, 0);
	assert_non_null(strstr(err.msg, "invalid secrets name"));

	/* A custom resource. */
	{
		hsmca_kube_ref tcp = { "kamaji.clastix.io/v1alpha1", "tenantcontrolplanes",
				       TENANT_NS, TENANT };

		assert_int_equal(hsmca_kube_get(k, &tcp, &got, &err), 0);
		assert_string_equal(hsmca_kube_str(got, "status.kubernetesResources.version.status"),
				    "Ready");
		json_object_put(got);
	}
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
}

static int count_items(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel)
{
	json_object *l = NULL, *items;
	hsmca_error err = { 0 };
	int n;

	if (hsmca_kube_list(k, ref, sel, &l, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(json_object_object_get_ex(l, "items", &items));
	n = (int)json_object_array_length(items);
	json_object_put(l);
	return n;
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

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		json_object *p = pod_obj(specs[i][0], specs[i][1]);

		assert_int_equal(hsmca_kube_create(k, &pods, p, NULL, &err), 0);
		json_object_put(p);
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
	assert_int_equal(hsmca_kube_list(k, &pods, "app in (a", &l, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 400));
	assert_non_null(strstr(err.msg, "list pods in t-sel: bad request: unable to parse"));
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
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
	assert_true(json_object_object_get_ex(obj, "metadata", &md));
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
	json_object *obj = secret_obj("s", "k", "v"), *out = NULL;
	struct mut m = { 0 };
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(hsmca_kube_create(k, &ref, obj, NULL, &err), 0);
	json_object_put(obj);

	/* Two forced conflicts: the third attempt stores the change. */
	set_faults("{\"conflict\": {\"count\": 2}}");
	assert_int_equal(hsmca_kube_update(k, &ref, add_label, &m, &out, &err), 0);
	assert_int_equal(m.calls, 3);
	assert_string_equal(hsmca_kube_str(out, "metadata.labels.updated"), "yes");
	json_object_put(out);

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
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
}

static int count_requests(const char *path)
{
	json_object *r = NULL, *reqs;
	int n = 0;

	assert_int_equal(ctl("GET", "/requests", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "requests", &reqs));
	for (size_t i = 0; i < json_object_array_length(reqs); i++)
		if (strcmp(hsmca_kube_str(json_object_array_get_idx(reqs, i), "path"), path) == 0)
			n++;
	json_object_put(r);
	return n;
}

static void test_throttle(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube_options opt = { .max_throttle_retries = 3, .max_retry_after_s = 2 };
	hsmca_kube *k = open_client(kc, &opt);
	hsmca_error err = { 0 };
	int64_t t0;

	(void)state;
	assert_int_equal(ctl("DELETE", "/requests", NULL, NULL), 200);
	set_faults("{\"too_many_requests\": {\"count\": 2, \"retry_after\": 1}}");
	t0 = now_ms();
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), 0);
	assert_true(now_ms() - t0 >= 1900);  /* waited Retry-After twice */
	assert_true(now_ms() - t0 < 10000);
	assert_int_equal(count_requests("/version"), 3);

	/* Retry-After above the cap waits the cap, not 100 s. */
	set_faults("{\"too_many_requests\": {\"count\": 1, \"retry_after\": 100}}");
	t0 = now_ms();
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), 0);
	assert_true(now_ms() - t0 >= 1900 && now_ms() - t0 < 10000);

	/* Still throttled after the allowed retries: the 429 is reported. */
	set_faults("{\"too_many_requests\": {\"count\": 10, \"retry_after\": 0}}");
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 429));
	assert_string_equal(err.msg, "get /version: too many requests: Too many requests, please "
				     "try again later. (HTTP 429)");
	set_faults("{}");
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
}

static void test_forbidden_message(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref ref = secrets_in("t-forbid", "locked");
	json_object *obj = secret_obj("locked", "k", "v"), *got = NULL;
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(hsmca_kube_create(k, &ref, obj, NULL, &err), 0);
	json_object_put(obj);
	set_faults("{\"forbid\": [{\"verb\": \"delete\", \"resource\": \"secrets\", "
		   "\"namespace\": \"t-forbid\", \"name\": \"locked\"}]}");
	assert_int_equal(hsmca_kube_delete(k, &ref, NULL, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 403));
	assert_string_equal(err.msg,
			    "delete secret t-forbid/locked: forbidden: secrets \"locked\" is "
			    "forbidden: User \"kubernetes-admin\" cannot delete resource \"secrets\" "
			    "in API group \"\" in the namespace \"t-forbid\" (HTTP 403)");
	assert_int_equal(hsmca_kube_get(k, &ref, &got, &err), 0); /* only delete is forbidden */
	json_object_put(got);
	set_faults("{}");
	assert_int_equal(hsmca_kube_delete(k, &ref, NULL, &err), 0);
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
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
	s = json_object_new_object();
	json_object_object_add(s, "pems", json_object_new_string(p.ca_pem));
	esc = strdup(json_object_to_json_string(s));
	json_object_put(s);
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
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
	free(yaml);
	free(esc);

	/* Trusting the wrong CA for the server: a TLS failure, not a 401. */
	yaml = kubeconfig_text(server, p.ca_pem, p.ca_len, p.cert_pem, p.cert_len, p.key_pem,
			       p.key_len, NULL);
	kc = parse_kc(yaml);
	k = open_client(kc, NULL);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_TLS_UNTRUSTED(&err));
	assert_non_null(strstr(err.msg, "the API server's certificate did not verify"));
	assert_non_null(strstr(err.msg, "(curl CURLE_PEER_FAILED_VERIFICATION)"));
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
	free(yaml);
	free_testpki(&p);
	free(ca);
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
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
	free(yaml);

	yaml = kubeconfig_text(server, (char *)base->ca_pem, base->ca_len, (char *)base->cert_pem,
			       base->cert_len, (char *)base->key_pem, base->key_len,
			       "wrong.example");
	kc = parse_kc(yaml);
	k = open_client(kc, NULL);
	assert_int_equal(hsmca_kube_version(k, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_TLS_UNTRUSTED(&err));
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
	free(yaml);
	hsmca_kubeconfig_free(base);
}

/* ---- watch ------------------------------------------------------------------ */

struct wstate {
	hsmca_kube *k;
	int lists;
	const char *want;   /* pod name whose ADDED ends the watch */
	bool compact_on_first_list;
	bool bump_on_first_list;
	bool create_on_list;
};

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
		if (w->compact_on_first_list && w->lists == 1)
			assert_int_equal(ctl("POST", "/compact", NULL, NULL), 200);
		if (w->create_on_list && w->lists == 2) {
			hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
			json_object *p = pod_obj(w->want, "{\"app\":\"w\"}");

			/* The watch has its own connection: the client is free here. */
			if (hsmca_kube_create(w->k, &pods, p, NULL, err) < 0) {
				json_object_put(p);
				return -1;
			}
			json_object_put(p);
		}
		return 0;
	}
	if (strcmp(type, "ADDED") == 0 && w->want &&
	    strcmp(hsmca_kube_str(object, "metadata.name"), w->want) == 0) {
		char key[128];

		snprintf(key, sizeof(key), "t-watch/%s", w->want);
		assert_true(json_object_object_get_ex(current, key, NULL));
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

static void test_watch_bookmarks_and_resume(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
	hsmca_kube_watch_stats st;
	struct wstate w = { .k = k, .bump_on_first_list = true };
	json_object *r = NULL, *reqs;
	hsmca_error err = { 0 };
	long rv1 = -1, rv2 = -1;
	int64_t t0;

	(void)state;
	assert_int_equal(ctl("DELETE", "/requests", NULL, NULL), 200);
	/* The first stream is cut after one line (a bookmark).  The callback's
	 * write after the LIST makes that bookmark newer than the list. */
	set_faults("{\"watch_cut\": {\"count\": 1, \"after_events\": 1}}");
	t0 = now_ms();
	assert_int_equal(hsmca_kube_watch(k, &pods, "app=w", 1800, watch_fn, &w, &st, &err), -1);
	assert_int_equal(err.code, HSMCA_KUBE_ERR_DEADLINE);
	assert_non_null(strstr(err.msg, "watch pods in t-watch: condition not reached within 1800 ms"));
	assert_true(now_ms() - t0 >= 1700 && now_ms() - t0 < 6000);
	assert_int_equal(st.lists, 1);
	assert_int_equal(w.lists, 1);
	assert_true(st.bookmarks >= 2);
	assert_true(st.watches >= 2);
	assert_true(st.reconnects >= 1);
	assert_int_equal(st.expired, 0);

	/* The resumed watch asked for the bookmark's resourceVersion. */
	assert_int_equal(ctl("GET", "/requests", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "requests", &reqs));
	for (size_t i = 0; i < json_object_array_length(reqs); i++) {
		json_object *q = json_object_array_get_idx(reqs, i);
		const char *rv = watch_rv_of(q);

		if (!rv || !strstr(hsmca_kube_str(q, "query"), "watch=1"))
			continue;
		if (rv1 < 0)
			rv1 = atol(rv);
		else if (rv2 < 0)
			rv2 = atol(rv);
	}
	json_object_put(r);
	assert_true(rv1 > 0);
	assert_true(rv2 > rv1);
	set_faults("{}");
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
}

static void test_watch_relist_on_410(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref pods = { "v1", "pods", "t-watch", NULL };
	hsmca_kube_watch_stats st;
	hsmca_error err = { 0 };
	const char *modes[] = { "event", "http" };

	(void)state;
	/* A compacted history: the ERROR event with a 410 Status, then re-list. */
	{
		struct wstate w = { .k = k, .want = "late-compact", .compact_on_first_list = true,
				    .bump_on_first_list = true, .create_on_list = true };

		if (hsmca_kube_watch(k, &pods, "app=w", 10000, watch_fn, &w, &st, &err) < 0)
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
		if (hsmca_kube_watch(k, &pods, "app=w", 10000, watch_fn, &w, &st, &err) < 0)
			fail_msg("%s: %s", modes[i], err.msg);
		assert_int_equal(st.lists, 2);
		assert_int_equal(st.expired, 1);
		assert_true(st.events >= 1);
	}
	set_faults("{}");
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
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
	assert_true(json_object_object_get_ex(current, TENANT_NS "/" TENANT "-ca", &sec));
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
			if (strcmp(uid, p->old[i]) == 0)
				return 0; /* an old pod is still there */
		if (hsmca_kube_pod_ready(pod))
			ready++;
	}
	return total == p->want && ready == p->want;
}

static void record_uids(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel,
			struct pods_wait *p)
{
	json_object *l = NULL, *items;
	hsmca_error err = { 0 };

	if (hsmca_kube_list(k, ref, sel, &l, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(json_object_object_get_ex(l, "items", &items));
	p->nold = (int)json_object_array_length(items);
	assert_true(p->nold > 0 && p->nold <= 8);
	for (int i = 0; i < p->nold; i++)
		snprintf(p->old[i], sizeof(p->old[i]), "%s",
			 hsmca_kube_str(json_object_array_get_idx(items, (size_t)i),
					"metadata.uid"));
	json_object_put(l);
}

static void delete_pods(hsmca_kube *k, const hsmca_kube_ref *ref, const char *sel)
{
	json_object *l = NULL, *items;
	hsmca_error err = { 0 };

	assert_int_equal(hsmca_kube_list(k, ref, sel, &l, &err), 0);
	assert_true(json_object_object_get_ex(l, "items", &items));
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		hsmca_kube_ref one = *ref;

		one.name = hsmca_kube_str(json_object_array_get_idx(items, i), "metadata.name");
		if (hsmca_kube_delete(k, &one, NULL, &err) < 0)
			fail_msg("%s", err.msg);
	}
	json_object_put(l);
}

/* The admin kubeconfig text (key super-admin.conf) from the tenant's Secret. */
static char *tenant_admin_conf(hsmca_kube *k)
{
	hsmca_kube_ref ref = secrets_in(TENANT_NS, TENANT "-admin-kubeconfig");
	json_object *sec = NULL;
	hsmca_error err = { 0 };
	uint8_t *conf = NULL;
	size_t len = 0;

	if (hsmca_kube_get(k, &ref, &sec, &err) < 0 ||
	    hsmca_kube_secret_data(sec, "super-admin.conf", &conf, &len, &err) < 0)
		fail_msg("%s", err.msg);
	json_object_put(sec);
	return (char *)conf;
}

static long violations(void)
{
	json_object *r = NULL, *v;
	long n;

	assert_int_equal(ctl("GET", "/violations", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "violations", &v));
	n = (long)json_object_array_length(v);
	json_object_put(r);
	return n;
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
	hsmca_kube_watch_stats st;
	hsmca_error err = { 0 };
	char *old_conf, *new_conf, *mixed, v[64], server[64];
	json_object *sec = NULL;
	uint8_t *ca = NULL;
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
	hsmca_kube_free(tk);

	for (size_t i = 0; i < 11; i++) {
		char name[128];
		hsmca_kube_ref one = secrets;

		snprintf(name, sizeof(name), "%s-%s", TENANT, seed_suffixes[i]);
		one.name = name;
		assert_int_equal(hsmca_kube_get(k, &one, &sec, &err), 0);
		snprintf(sw.old_uid[i], sizeof(sw.old_uid[i]), "%s",
			 hsmca_kube_str(sec, "metadata.uid"));
		if (i == 0) {
			assert_int_equal(hsmca_kube_secret_data(sec, "ca.crt", &ca, &len, &err), 0);
			assert_true(len < sizeof(sw.old_ca));
			memcpy(sw.old_ca, ca, len);
			free(ca);
		}
		json_object_put(sec);
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
	if (hsmca_kube_watch(k, &secrets, "kamaji.clastix.io/name=" TENANT, 20000,
			     secrets_recreated, &sw, &st, &err) < 0)
		fail_msg("%s", err.msg);
	if (hsmca_kube_watch(k, &tpods, "kubevirt.io=virt-launcher", 20000, pods_replaced, &vms,
			     &st, &err) < 0)
		fail_msg("%s", err.msg);
	if (hsmca_kube_watch(k, &kpods, "app.kubernetes.io/name=kamaji", 20000, pods_replaced,
			     &ctrl, &st, &err) < 0)
		fail_msg("%s", err.msg);
	if (hsmca_kube_watch(k, &tpods, "app=" TENANT "-kcsi-driver", 20000, pods_replaced, &csi,
			     &st, &err) < 0)
		fail_msg("%s", err.msg);

	/* After: the new kubeconfig works on the tenant API server ... */
	new_conf = tenant_admin_conf(k);
	assert_string_not_equal(new_conf, old_conf);
	new_kc = parse_kc(new_conf);
	tk = open_client(new_kc, NULL);
	if (hsmca_kube_version(tk, v, sizeof(v), &err) < 0)
		fail_msg("%s", err.msg);
	hsmca_kube_free(tk);

	/* ... the whole old one fails at server verification (its CA is gone) ... */
	tk = open_client(old_kc, NULL);
	assert_int_equal(hsmca_kube_version(tk, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_TLS_UNTRUSTED(&err));
	hsmca_kube_free(tk);

	/* ... and the old client certificate, with the new server CA, gets 401. */
	mixed = kubeconfig_text(server, (char *)new_kc->ca_pem, new_kc->ca_len,
				(char *)old_kc->cert_pem, old_kc->cert_len,
				(char *)old_kc->key_pem, old_kc->key_len, NULL);
	mixed_kc = parse_kc(mixed);
	tk = open_client(mixed_kc, NULL);
	assert_int_equal(hsmca_kube_version(tk, NULL, 0, &err), -1);
	assert_true(HSMCA_KUBE_IS_HTTP(&err, 401));
	hsmca_kube_free(tk);

	/* The management client never sent a private key. */
	assert_int_equal(violations(), 0);

	hsmca_kubeconfig_free(mixed_kc);
	kube_free_secret(mixed, strlen(mixed));
	hsmca_kubeconfig_free(new_kc);
	hsmca_kubeconfig_free(old_kc);
	kube_free_secret(new_conf, strlen(new_conf));
	kube_free_secret(old_conf, strlen(old_conf));
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
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
	hsmca_kube_watch_stats st;
	json_object *before = NULL, *after = NULL;
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(hsmca_kube_get(k, &ca, &before, &err), 0);
	if (hsmca_kube_watch(k, &tcp, NULL, 20000, tcp_rotation, &t, &st, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(t.saw_rotating);
	assert_int_equal(hsmca_kube_get(k, &ca, &after, &err), 0);
	{
		json_object *d1, *d2, *c1, *c2;

		assert_true(json_object_object_get_ex(before, "data", &d1));
		assert_true(json_object_object_get_ex(after, "data", &d2));
		assert_true(json_object_object_get_ex(d1, "ca.crt", &c1));
		assert_true(json_object_object_get_ex(d2, "ca.crt", &c2));
		assert_string_not_equal(json_object_get_string(c1), json_object_get_string(c2));
	}
	/* The annotation was consumed, the uid kept (rotated in place). */
	{
		json_object *md, *ann;

		assert_true(json_object_object_get_ex(after, "metadata", &md));
		if (json_object_object_get_ex(md, "annotations", &ann))
			assert_false(json_object_object_get_ex(ann, "certs.kamaji.clastix.io/rotate",
							       NULL));
	}
	assert_string_equal(hsmca_kube_str(before, "metadata.uid"),
			    hsmca_kube_str(after, "metadata.uid"));
	json_object_put(before);
	json_object_put(after);
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
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
	if (hsmca_kube_watch(k, &tpods, "app=" TENANT "-kcsi-driver", 20000, csi_ready, NULL, &st,
			     &err) < 0)
		fail_msg("%s", err.msg);
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
}

static void test_oracle(void **state)
{
	hsmca_kubeconfig *kc = load_kc(D.kubeconfig);
	hsmca_kube *k = open_client(kc, NULL);
	hsmca_kube_ref ref = secrets_in("t-oracle", "leak");
	hsmca_kube_ref kamaji = secrets_in(TENANT_NS, TENANT "-sa-certificate");
	struct testpki p;
	json_object *obj, *sec = NULL, *r = NULL, *v;
	hsmca_error err = { 0 };

	(void)state;
	assert_int_equal(ctl("DELETE", "/violations", NULL, NULL), 200);
	/* Writing back a key the double issued itself is no violation. */
	assert_int_equal(hsmca_kube_get(k, &kamaji, &sec, &err), 0);
	assert_int_equal(hsmca_kube_replace(k, &kamaji, sec, NULL, &err), 0);
	json_object_put(sec);
	assert_int_equal(violations(), 0);

	/* A key the double never saw is recorded (its public half only). */
	make_testpki(&p, "leaker");
	obj = secret_obj("leak", "tls.key", p.key_pem);
	assert_int_equal(hsmca_kube_create(k, &ref, obj, NULL, &err), 0);
	json_object_put(obj);
	assert_int_equal(ctl("GET", "/violations", NULL, &r), 200);
	assert_true(json_object_object_get_ex(r, "violations", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(hsmca_kube_str(json_object_array_get_idx(v, 0), "path"),
			    "/api/v1/namespaces/t-oracle/secrets");
	assert_non_null(hsmca_kube_str(json_object_array_get_idx(v, 0), "public_key_sha256"));
	assert_null(strstr(json_object_to_json_string(r), "PRIVATE KEY"));
	json_object_put(r);
	assert_int_equal(ctl("DELETE", "/violations", NULL, NULL), 200);
	free_testpki(&p);
	hsmca_kube_free(k);
	hsmca_kubeconfig_free(kc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_and_token),
		cmocka_unit_test(test_crud),
		cmocka_unit_test(test_label_selectors),
		cmocka_unit_test(test_conflict_retry),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_forbidden_message),
		cmocka_unit_test(test_unknown_client_cert),
		cmocka_unit_test(test_tls_server_name),
		cmocka_unit_test(test_watch_bookmarks_and_resume),
		cmocka_unit_test(test_watch_relist_on_410),
		cmocka_unit_test(test_kamaji_seed_rotation),
		cmocka_unit_test(test_kamaji_annotation_rotation),
		cmocka_unit_test(test_pod_never_ready),
		cmocka_unit_test(test_oracle),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, start_double, stop_all);
}
