/* The access CA store: generations, the current pointer, retired markers,
 * client credentials issued in the token. */
#include "rotate/rot_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "ca/retired.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "issue/issue.h"
#include "talos/talos.h"
#include "x509/x509.h"

int hsmca_rot_current_ca(const char *home, const char *target, char name[64], hsmca_error *err)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;

	name[0] = '\0';
	if (hsmca_path_join(path, sizeof(path), err, "%s/%s/access-ca", home, target) != 0)
		return -1;
	if (access(path, F_OK) != 0)
		return 0;
	if (hsmca_read_file(path, 256, &buf, &len, err) != 0)
		return -1;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	if (hsmca_ca_name_check((char *)buf, err) != 0) {
		free(buf);
		return hsmca_error_prefix(err, "%s", path);
	}
	snprintf(name, 64, "%s", (char *)buf);
	free(buf);
	return 0;
}

int hsmca_rot_set_current_ca(const char *home, const char *target, const char *name,
			     hsmca_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX], line[80];
	int n;

	if (hsmca_path_join(dir, sizeof(dir), err, "%s/%s", home, target) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/access-ca", dir) != 0 ||
	    hsmca_mkdir_p(dir, 0755, err) != 0)
		return -1;
	n = snprintf(line, sizeof(line), "%s\n", name);
	return hsmca_write_atomic(path, line, (size_t)n, 0644, err);
}

int hsmca_rot_next_generation(const char *home, const char *base, char out[64], hsmca_error *err)
{
	char (*names)[64] = NULL;
	size_t n = 0, i, bl = strlen(base);
	unsigned long max = 0;

	if (hsmca_ca_names(home, &names, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		char *end;
		unsigned long g;

		if (strncmp(names[i], base, bl) != 0 || strncmp(names[i] + bl, "-g", 2) != 0)
			continue;
		errno = 0;
		g = strtoul(names[i] + bl + 2, &end, 10);
		if (errno == 0 && *end == '\0' && g > max)
			max = g;
	}
	free(names);
	if (snprintf(out, 64, "%s-g%lu", base, max + 1) >= 64)
		return hsmca_error_set(err, "CA base name %s is too long", base);
	return hsmca_ca_name_check(out, err);
}

static int retired_path(const char *home, const char *ca, char *out, size_t outlen,
			hsmca_error *err)
{
	return hsmca_path_join(out, outlen, err, "%s/cas/%s/" HSMCA_CA_RETIRED_FILE, home, ca);
}

int hsmca_rot_mark_retired(const char *home, const char *ca, const char *rotation,
			   const char *reason, bool key_destroyed, hsmca_error *err)
{
	char path[PATH_MAX], now[21];
	json_object *o;
	const char *s;
	int ret;

	if (retired_path(home, ca, path, sizeof(path), err) != 0)
		return -1;
	hsmca_format_time(hsmca_now(), now);
	o = json_object_new_object();
	json_object_object_add(o, "ca", json_object_new_string(ca));
	json_object_object_add(o, "retired", json_object_new_string(now));
	json_object_object_add(o, "rotation", json_object_new_string(rotation));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	json_object_object_add(o, "key_destroyed", json_object_new_boolean(key_destroyed));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	ret = hsmca_write_atomic(path, s, strlen(s), 0644, err);
	json_object_put(o);
	return ret;
}

bool hsmca_rot_is_retired(const char *home, const char *ca)
{
	char path[PATH_MAX];
	hsmca_error e;

	return retired_path(home, ca, path, sizeof(path), &e) == 0 && access(path, F_OK) == 0;
}

static json_object *strv_json(char *const *v)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

int hsmca_rot_cluster_save(const char *home, const struct hsmca_rot_plan *p, hsmca_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	json_object *o;
	const char *s;
	int ret;

	if (hsmca_path_join(dir, sizeof(dir), err, "%s/%s", home, p->target) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/cluster.json", dir) != 0 ||
	    hsmca_mkdir_p(dir, 0755, err) != 0)
		return -1;
	o = json_object_new_object();
	json_object_object_add(o, "context", json_object_new_string(
		strcmp(p->target, "kubernetes") == 0 ? p->kube_context : p->context));
	json_object_object_add(o, "endpoints", strv_json(p->endpoints));
	json_object_object_add(o, "nodes", strv_json(p->tc_nodes));
	json_object_object_add(o, "node_ca_pem", json_object_new_string(p->node_ca_pem));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	ret = hsmca_write_atomic(path, s, strlen(s), 0644, err);
	json_object_put(o);
	return ret;
}

static int strv_from(json_object *a, char ***out, hsmca_error *err)
{
	size_t n, i;
	char **v;

	if (!json_object_is_type(a, json_type_array))
		return hsmca_error_set(err, "not an array");
	n = json_object_array_length(a);
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return hsmca_error_set(err, "out of memory");
	for (i = 0; i < n; i++) {
		if (!(v[i] = strdup(json_object_get_string(json_object_array_get_idx(a, i))))) {
			hsmca_talos_strv_free(v);
			return hsmca_error_set(err, "out of memory");
		}
	}
	*out = v;
	return 0;
}

int hsmca_rot_cluster_load(const char *home, const char *target, struct hsmca_rot_plan *p,
			   hsmca_error *err)
{
	char path[PATH_MAX];
	json_object *o, *v;
	const char *ctx, *pem;
	int ret = -1;

	if (hsmca_path_join(path, sizeof(path), err, "%s/%s/cluster.json", home, target) != 0)
		return -1;
	if (access(path, F_OK) != 0)
		return hsmca_error_set(err, "%s does not exist: no rotation has issued a credential "
					    "yet; give --talosconfig FILE to take the endpoints, "
					    "nodes and node CA from", path);
	o = json_object_from_file(path);
	if (!o)
		return hsmca_error_set(err, "%s: not JSON", path);
	if (!json_object_object_get_ex(o, "context", &v) || !(ctx = json_object_get_string(v)) ||
	    !json_object_object_get_ex(o, "node_ca_pem", &v) || !(pem = json_object_get_string(v))) {
		hsmca_error_set(err, "%s: context or node_ca_pem missing", path);
		goto out;
	}
	snprintf(p->context, sizeof(p->context), "%s", ctx);
	p->node_ca_pem = strdup(pem);
	if (!p->node_ca_pem || !json_object_object_get_ex(o, "endpoints", &v) ||
	    strv_from(v, &p->endpoints, err) != 0 || !json_object_object_get_ex(o, "nodes", &v) ||
	    strv_from(v, &p->tc_nodes, err) != 0) {
		hsmca_error_prefix(err, "%s", path);
		goto out;
	}
	snprintf(p->target, sizeof(p->target), "%s", target);
	ret = 0;
out:
	json_object_put(o);
	return ret;
}

void hsmca_rot_secret_free(char *p)
{
	if (p) {
		hsmca_wipe(p, strlen(p));
		free(p);
	}
}

/* PEM of a private key, through a secure-heap BIO (cleared when freed). */
static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data = NULL, *out = NULL;
	long len;

	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (len = BIO_get_mem_data(b, &data)) > 0 && (out = malloc((size_t)len + 1))) {
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
	}
	BIO_free(b);
	return out;
}

int hsmca_rot_issue_client(struct hsmca_session *s, const char *ca, const char *profile,
			   const char *cn, long validity, char **crt_pem, char **key_out,
			   hsmca_error *err)
{
	return hsmca_rot_issue_client_as(s, ca, profile, cn, NULL, validity, crt_pem, key_out, err);
}

int hsmca_rot_issue_client_as(struct hsmca_session *s, const char *ca, const char *profile,
			      const char *cn, const char *subject, long validity, char **crt_pem,
			      char **key_out, hsmca_error *err)
{
	struct hsmca_issue_request req;
	struct hsmca_issued cert;
	EVP_PKEY *k = NULL;
	X509_REQ *r = NULL;
	unsigned char *der = NULL;
	char *pem = NULL, *kp = NULL;
	size_t pem_len = 0;
	int der_len, ret = -1;

	memset(&req, 0, sizeof(req));
	memset(&cert, 0, sizeof(cert));
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	r = X509_REQ_new();
	if (!k || !r || X509_REQ_set_version(r, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_UTF8,
				       (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(r, k) != 1 || X509_REQ_sign(r, k, EVP_sha256()) <= 0 ||
	    (der_len = i2d_X509_REQ(r, &der)) <= 0) {
		hsmca_error_openssl(err, "client key and CSR for %s", profile);
		goto out;
	}
	req.ca = ca;
	req.profile = profile;
	req.csr = der;
	req.csr_len = (size_t)der_len;
	req.subject = subject;
	req.validity = validity;
	if (hsmca_issue_one(s, &req, &cert, err) != 0) {
		hsmca_error_prefix(err, "issue a %s certificate from %s", profile, ca);
		goto out;
	}
	pem = hsmca_pem_encode("CERTIFICATE", cert.der, cert.der_len, &pem_len);
	kp = key_pem(k);
	if (!pem || !kp) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	*crt_pem = pem;
	*key_out = kp;
	pem = kp = NULL;
	ret = 0;
out:
	free(pem);
	hsmca_rot_secret_free(kp);
	OPENSSL_free(der);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	hsmca_issued_clear(&cert);
	return ret;
}

static X509 *pem_x509(const char *pem)
{
	BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	ERR_clear_error();
	return x;
}

bool hsmca_rot_cert_issued_by(const char *crt_pem, X509 *ca)
{
	X509 *x = crt_pem ? pem_x509(crt_pem) : NULL;
	bool ok = false;

	if (x && ca)
		ok = X509_check_issued(ca, x) == X509_V_OK && X509_verify(x, X509_get0_pubkey(ca)) == 1;
	X509_free(x);
	ERR_clear_error();
	return ok;
}

void hsmca_rot_describe_issuer(const char *home, const char *crt_pem, const char *node_ca_pem,
			       const char *access_ca, char *out, size_t outlen)
{
	X509 *node_ca = pem_x509(node_ca_pem);
	struct hsmca_ca *ca = NULL;
	hsmca_error e;

	if (node_ca && hsmca_rot_cert_issued_by(crt_pem, node_ca))
		snprintf(out, outlen, "machine CA");
	else if (access_ca && access_ca[0] && hsmca_ca_load(home, access_ca, &ca, &e) == 0 &&
		 hsmca_rot_cert_issued_by(crt_pem, ca->x509))
		snprintf(out, outlen, "%s", access_ca);
	else
		snprintf(out, outlen, "unknown issuer");
	hsmca_ca_free(ca);
	X509_free(node_ca);
}
