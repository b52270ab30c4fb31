/* Unit tests for the pure parts of src/tenant/: the old-CA certificate
 * detector the wait step relies on, the journal (append, torn last line,
 * damaged line, lock) and the fault hook.  The rotation itself is tested
 * end to end against the Kubernetes API double (tests/integration/tenant_*.sh). */
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
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tenant/tenant_internal.h"
#include "testutil.h"

/* ---- certificates ------------------------------------------------------ */

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(c);
	X509_set_version(c, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c), (long)random());
	X509_gmtime_adj(X509_getm_notBefore(c), -60);
	X509_gmtime_adj(X509_getm_notAfter(c), 3600);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(c, n);
	X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(c, key);
	X509V3_set_ctx(&v3, issuer ? issuer : c, c, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE"
								      : "critical,CA:FALSE");
	X509_add_ext(c, ext, -1);
	X509_EXTENSION_free(ext);
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(c, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return c;
}

static char *pem_of(X509 *c)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, c);
	n = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

static char *b64(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

/* A Secret with one data key holding `value` (base64-encoded here). */
static json_object *secret_with(const char *key, const char *value)
{
	json_object *s = json_object_new_object(), *md = json_object_new_object();
	json_object *data = json_object_new_object();
	char *v = b64(value);

	json_object_object_add(md, "name", json_object_new_string("foo-x"));
	json_object_object_add(s, "metadata", md);
	json_object_object_add(data, key, json_object_new_string(v));
	json_object_object_add(s, "data", data);
	free(v);
	return s;
}

static void test_old_ca_detection(void **state)
{
	EVP_PKEY *k1 = new_key(), *k2 = new_key(), *kl = new_key();
	/* Two CAs with the same subject, as Kamaji makes them: only the
	 * signature tells them apart. */
	X509 *ca1 = make_cert("kubernetes", k1, NULL, NULL, true);
	X509 *ca2 = make_cert("kubernetes", k2, NULL, NULL, true);
	X509 *leaf1 = make_cert("kube-apiserver", kl, ca1, k1, false);
	X509 *leaf2 = make_cert("kube-apiserver", kl, ca2, k2, false);
	char *p_ca1 = pem_of(ca1), *p_ca2 = pem_of(ca2), *p_l1 = pem_of(leaf1), *p_l2 = pem_of(leaf2);
	char buf[8192], key[64];
	json_object *s;
	char *b;

	(void)state;
	/* A leaf of the old CA, after a key block (which is skipped, not parsed). */
	snprintf(buf, sizeof(buf), "%s%s", hsmca_test_key_pem("PRIVATE KEY"), p_l1);
	s = secret_with("apiserver.crt", buf);
	assert_true(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	assert_string_equal(key, "apiserver.crt");
	assert_false(tenant_secret_has_cert_of(s, ca2, key, sizeof(key)));
	json_object_put(s);

	/* A leaf of the new CA is not stale; the old CA certificate itself is. */
	s = secret_with("tls.crt", p_l2);
	assert_false(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	json_object_put(s);
	s = secret_with("ca.crt", p_ca1);
	assert_true(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	json_object_put(s);

	/* Inside a kubeconfig: the CA data, or the client certificate. */
	b = b64(p_ca1);
	snprintf(buf, sizeof(buf), "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n"
		 "    server: https://x:6443\n", b);
	free(b);
	s = secret_with("admin.conf", buf);
	assert_true(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	assert_string_equal(key, "admin.conf");
	assert_false(tenant_secret_has_cert_of(s, ca2, key, sizeof(key)));
	json_object_put(s);
	b = b64(p_l1);
	snprintf(buf, sizeof(buf), "users:\n- user:\n    client-certificate-data: \"%s\"\n", b);
	free(b);
	s = secret_with("super-admin.conf", buf);
	assert_true(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	json_object_put(s);
	b = b64(p_ca2);
	snprintf(buf, sizeof(buf), "clusters:\n- cluster:\n    certificate-authority-data: %s\n", b);
	free(b);
	s = secret_with("admin.conf", buf);
	assert_false(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	json_object_put(s);

	/* Nothing certificate-like. */
	s = secret_with("sa.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	assert_false(tenant_secret_has_cert_of(s, ca1, key, sizeof(key)));
	json_object_put(s);

	free(p_ca1);
	free(p_ca2);
	free(p_l1);
	free(p_l2);
	X509_free(ca1);
	X509_free(ca2);
	X509_free(leaf1);
	X509_free(leaf2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(kl);
}

/* ---- journal --------------------------------------------------------------- */

static void test_journal(void **state)
{
	char *dir = hsmca_test_tmpdir();
	struct tjournal j, j2;
	hsmca_error err = { "", 0 };
	json_object *f;
	struct stat st;
	char last;
	int fd;

	(void)state;
	assert_int_equal(tj_init(&j, dir, "tenant-foo", "foo", &err), 0);
	assert_false(tj_exists(&j));
	assert_int_equal(tj_lock(&j, &err), 0);
	assert_int_equal(tj_load(&j, &err), 0);
	assert_int_equal(json_object_array_length(j.lines), 0);
	f = json_object_new_object();
	json_object_object_add(f, "out", json_object_new_string("/a/b"));
	assert_int_equal(tj_append(&j, "begin", f, &err), 0);
	assert_int_equal(tj_append(&j, "record-old", NULL, &err), 0);
	assert_string_equal(tj_last_step(&j), "record-old");
	assert_string_equal(hsmca_kube_str(tj_last(&j, "begin"), "out"), "/a/b");
	assert_int_equal(stat(j.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A second holder of the lock is refused at once. */
	assert_int_equal(tj_init(&j2, dir, "tenant-foo", "foo", &err), 0);
	assert_int_equal(tj_lock(&j2, &err), -1);
	assert_int_equal(err.code, EWOULDBLOCK);
	assert_non_null(strstr(err.msg, "another hsmca tenant rotate-ca holds"));
	tj_free(&j2);

	/* A torn last line: dropped, and cut off the file by a locked reader. */
	fd = open(j.path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"step\":\"dele", 13), 13);
	close(fd);
	tj_free(&j);
	assert_int_equal(tj_init(&j, dir, "tenant-foo", "foo", &err), 0);
	assert_int_equal(tj_lock(&j, &err), 0);
	assert_int_equal(tj_load(&j, &err), 0);
	assert_int_equal(json_object_array_length(j.lines), 2);
	fd = open(j.path, O_RDONLY);
	assert_true(lseek(fd, -1, SEEK_END) > 0);
	assert_int_equal(read(fd, &last, 1), 1);
	close(fd);
	assert_int_equal(last, '\n');
	assert_int_equal(tj_append(&j, "delete-begin", NULL, &err), 0);
	assert_int_equal(tj_close_as(&j, "done", &err), 0);
	assert_false(tj_exists(&j));
	tj_free(&j);

	/* A damaged line in the middle is an error, not silently skipped. */
	assert_int_equal(tj_init(&j, dir, "tenant-foo", "foo", &err), 0);
	assert_int_equal(tj_lock(&j, &err), 0);
	assert_int_equal(tj_append(&j, "begin", NULL, &err), 0);
	fd = open(j.path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "garbage\n", 8), 8);
	close(fd);
	assert_int_equal(tj_append(&j, "record-old", NULL, &err), 0);
	tj_free(&j);
	assert_int_equal(tj_init(&j, dir, "tenant-foo", "foo", &err), 0);
	assert_int_equal(tj_load(&j, &err), -1);
	assert_non_null(strstr(err.msg, "line 2 is not a journal entry"));
	tj_free(&j);

	hsmca_test_rmtree(dir);
	free(dir);
}

/* ---- selection: Kamaji's rotation time, label selectors, worker VM pods ---- */

static void test_rfc3339(void **state)
{
	time_t t;

	(void)state;
	/* Go time.RFC3339 as Kamaji writes it (SetLastRotationTimestamp). */
	assert_int_equal(tenant_parse_rfc3339("2025-07-15T15:15:08Z", &t), 0);
	assert_int_equal((long long)t, 1752592508LL);
	assert_int_equal(tenant_parse_rfc3339("2025-07-15T17:15:08+02:00", &t), 0);
	assert_int_equal((long long)t, 1752592508LL);
	assert_int_equal(tenant_parse_rfc3339("2025-07-15T10:15:08.123-05:00", &t), 0);
	assert_int_equal((long long)t, 1752592508LL);
	/* "" is a rotation request, not a time; neither are these. */
	assert_int_equal(tenant_parse_rfc3339("", &t), -1);
	assert_int_equal(tenant_parse_rfc3339(NULL, &t), -1);
	assert_int_equal(tenant_parse_rfc3339("2025-07-15 15:20:41.688181782 +0200 CEST", &t), -1);
	assert_int_equal(tenant_parse_rfc3339("2025-07-15T15:15:08Z02:00", &t), -1);
	assert_int_equal(tenant_parse_rfc3339("2025-02-30T15:15:08Z", &t), -1);
	assert_int_equal(tenant_parse_rfc3339("2025-07-15T15:15:08.Z", &t), -1);
	assert_int_equal(tenant_parse_rfc3339("2025-07-15T15:15:08+0200", &t), -1);
}

static json_object *pod(const char *name, const char *labels_json)
{
	char buf[1024];
	json_object *p;

	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"%s\",\"labels\":%s}}", name,
		 labels_json);
	p = json_tokener_parse(buf);
	assert_non_null(p);
	return p;
}

static void test_worker_selection(void **state)
{
	hsmca_tenant_opts o = { .name = "kubernetes-foo", .namespace = "tenant-foo" };
	struct tctx t = { .o = &o, .name = "kubernetes-foo", .ns = "tenant-foo", .kns = "cozy-kamaji" };
	struct tenant_pod_group g[3];
	const struct tenant_pod_group *w = &g[TENANT_GROUP_WORKERS];
	json_object *p;

	(void)state;
	tenant_pod_groups(&t, g);
	/* Cozystack: the TCP is kubernetes-foo; CAPK's label carries it. */
	assert_string_equal(w->selector,
			    "cluster.x-k8s.io/cluster-name=kubernetes-foo,kubevirt.io=virt-launcher");
	assert_string_equal(w->prefix, "virt-launcher-kubernetes-foo-");
	assert_string_equal(w->ns, "tenant-foo");
	assert_string_equal(g[1].selector, "app=kubernetes-foo-kcsi-driver");

	p = pod("virt-launcher-kubernetes-foo-md0-abc12-x7k2p-q9z8w",
		"{\"kubevirt.io\":\"virt-launcher\",\"cluster.x-k8s.io/cluster-name\":\"kubernetes-foo\"}");
	assert_true(tenant_labels_match(p, w->selector));
	assert_true(tenant_pod_in_group(w, p));
	json_object_put(p);
	/* A cluster "foo-bar" shares the name prefix; its label tells it apart. */
	p = pod("virt-launcher-kubernetes-foo-bar-md0-abc12-x7k2p-q9z8w",
		"{\"kubevirt.io\":\"virt-launcher\",\"cluster.x-k8s.io/cluster-name\":\"kubernetes-foo-bar\"}");
	assert_false(tenant_labels_match(p, w->selector));
	json_object_put(p);
	/* Missing label, wrong value, no labels at all. */
	p = pod("virt-launcher-kubernetes-foo-a", "{\"kubevirt.io\":\"virt-launcher\"}");
	assert_false(tenant_labels_match(p, w->selector));
	json_object_put(p);
	p = pod("x", "{\"cluster.x-k8s.io/cluster-name\":\"kubernetes-foo\",\"kubevirt.io\":\"x\"}");
	assert_false(tenant_labels_match(p, w->selector));
	json_object_put(p);
	p = json_tokener_parse("{\"metadata\":{\"name\":\"a\"}}");
	assert_false(tenant_labels_match(p, "a=b"));
	assert_false(tenant_labels_match(p, "garbage"));
	json_object_put(p);
	/* The front-proxy CA is rotated unless kept. */
	assert_true(tenant_rotates(&t, HSMCA_TENANT_FP_CA));
	assert_string_equal(hsmca_tenant_secret_suffixes[HSMCA_TENANT_FP_CA],
			    "front-proxy-ca-certificate");
	t.keep_fp = true;
	assert_false(tenant_rotates(&t, HSMCA_TENANT_FP_CA));
	assert_true(tenant_rotates(&t, 0));
}

/* ---- fault hook ------------------------------------------------------------ */

static int run_fault(const char *env, const char *point)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("HSMCA_FAULT", env, 1);
		tenant_fault_point(point);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) ? WTERMSIG(status) : -WEXITSTATUS(status);
}

static void test_fault_point(void **state)
{
	(void)state;
	assert_int_equal(run_fault("tenant:wait", "wait"), SIGKILL);
	assert_int_equal(run_fault("talos:prepare,tenant:delete", "delete"), SIGKILL);
	assert_int_equal(run_fault("tenant:delete-one", "delete"), 0);
	assert_int_equal(run_fault("tenant:delete", "delete-one"), 0);
	assert_int_equal(run_fault("talos:wait", "wait"), 0);
	assert_int_equal(run_fault("", "wait"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_ca_detection),
		cmocka_unit_test(test_journal),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_worker_selection),
		cmocka_unit_test(test_fault_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
