/* Request bundles: made online from a directory of CSRs, checked offline. */
#include "bundle/bundle.h"

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "issue/issue.h"

#define REQ_FORMAT "hsmca-request-v1"

void hsmca_bundle_request_clear(struct hsmca_bundle_request *req)
{
	if (!req)
		return;
	free(req->csrs);
	memset(req, 0, sizeof(*req));
}

/* Check one CSR and describe it: key, subject, SANs, SPKI hash. */
static int describe_csr(const uint8_t *data, size_t len, struct hsmca_bundle_csr *c,
			hsmca_error *err)
{
	struct hsmca_csr *csr = calloc(1, sizeof(*csr));
	uint8_t *scratch = malloc(len + 1);
	const uint8_t *der = NULL, *p;
	size_t der_len = 0, i;
	X509_REQ *x = NULL;
	int ret = -1;

	if (!csr || !scratch) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (len > HSMCA_CSR_MAX) {
		hsmca_error_set(err, "larger than %d bytes", HSMCA_CSR_MAX);
		goto out;
	}
	if (hsmca_csr_decode(data, len, scratch, &der, &der_len, err) != 0 ||
	    hsmca_csr_parse(der, der_len, csr, err) != 0 || hsmca_csr_verify(csr, 2048, err) != 0)
		goto out;
	hsmca_bundle_sha256(csr->spki, csr->spki_len, c->spki_sha256);
	snprintf(c->key_type, sizeof(c->key_type), "%s", hsmca_key_type_name(csr->key_type));
	c->sans[0] = '\0';
	for (i = 0; i < csr->n_sans; i++) {
		char one[300];
		size_t l = strlen(c->sans);

		hsmca_san_format(&csr->sans[i], one, sizeof(one));
		snprintf(c->sans + l, sizeof(c->sans) - l, "%s%s", i ? ", " : "", one);
	}
	p = der;
	x = d2i_X509_REQ(NULL, &p, (long)der_len);
	c->subject[0] = '\0';
	if (x) {
		BIO *bio = BIO_new(BIO_s_mem());
		char *txt = NULL;
		long n;

		if (bio && X509_NAME_print_ex(bio, X509_REQ_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
		    (n = BIO_get_mem_data(bio, &txt)) >= 0)
			snprintf(c->subject, sizeof(c->subject), "%.*s", (int)n, txt);
		BIO_free(bio);
	}
	ret = 0;
out:
	X509_REQ_free(x);
	free(scratch);
	free(csr);
	return ret;
}

static void requester(char *out, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	if (pw)
		snprintf(out, len, "%s@%s", pw->pw_name, host);
	else
		snprintf(out, len, "uid%u@%s", (unsigned)geteuid(), host);
}

static int csr_filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int hsmca_bundle_request_make(const char *ca, const char *profile, int64_t validity,
			      const char *note, const char *csr_dir, const char *out,
			      char **manifest_out, struct hsmca_bundle_request *req,
			      hsmca_error *err)
{
	struct hsmca_bundle b = { NULL, 0 };
	struct hsmca_bundle_request r;
	struct dirent **names = NULL;
	json_object *m = NULL, *arr;
	uint8_t id[16], *data = NULL;
	const char *text;
	int count, i, ret = -1;

	memset(&r, 0, sizeof(r));
	if (hsmca_ca_name_check(ca, err) != 0)
		return -1;
	count = scandir(csr_dir, &names, csr_filter, alphasort);
	if (count < 0)
		return hsmca_error_errno(err, "cannot read the CSR directory %s", csr_dir);
	if (count == 0) {
		hsmca_error_set(err, "no CSR in %s", csr_dir);
		goto out;
	}
	r.csrs = calloc((size_t)count, sizeof(*r.csrs));
	if (!r.csrs || RAND_bytes(id, sizeof(id)) != 1) {
		hsmca_error_set(err, "out of memory or randomness");
		goto out;
	}
	hsmca_hex(id, sizeof(id), r.id);
	m = json_object_new_object();
	json_object_object_add(m, "format", json_object_new_string(REQ_FORMAT));
	json_object_object_add(m, "id", json_object_new_string(r.id));
	json_object_object_add(m, "ca", json_object_new_string(ca));
	json_object_object_add(m, "profile", json_object_new_string(profile));
	json_object_object_add(m, "validity_seconds", json_object_new_int64(validity));
	json_object_object_add(m, "note", json_object_new_string(note ? note : ""));
	requester(r.requester, sizeof(r.requester));
	json_object_object_add(m, "requester", json_object_new_string(r.requester));
	hsmca_format_time(hsmca_now(), r.time);
	json_object_object_add(m, "time", json_object_new_string(r.time));
	arr = json_object_new_array();
	json_object_object_add(m, "csrs", arr);
	for (i = 0; i < count; i++) {
		struct hsmca_bundle_csr *c = &r.csrs[r.n];
		char path[PATH_MAX];
		size_t len = 0;
		struct stat st;
		json_object *o;

		if (hsmca_path_join(path, sizeof(path), err, "%s/%s", csr_dir, names[i]->d_name) != 0)
			goto out;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (hsmca_read_file(path, HSMCA_CSR_MAX, &data, &len, err) != 0 ||
		    describe_csr(data, len, c, err) != 0) {
			hsmca_error_prefix(err, "CSR %s", path);
			goto out;
		}
		c->index = (unsigned)r.n + 1;
		snprintf(c->file, sizeof(c->file), "csr/%04u.pem", c->index);
		snprintf(c->source, sizeof(c->source), "%s", names[i]->d_name);
		hsmca_bundle_sha256(data, len, c->sha256);
		if (hsmca_bundle_add(&b, c->file, data, len, err) != 0)
			goto out;
		o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int(c->index));
		json_object_object_add(o, "file", json_object_new_string(c->file));
		json_object_object_add(o, "source", json_object_new_string(c->source));
		json_object_object_add(o, "sha256", json_object_new_string(c->sha256));
		json_object_object_add(o, "spki_sha256", json_object_new_string(c->spki_sha256));
		json_object_object_add(o, "key", json_object_new_string(c->key_type));
		json_object_object_add(o, "subject", json_object_new_string(c->subject));
		json_object_object_add(o, "sans", json_object_new_string(c->sans));
		json_object_array_add(arr, o);
		free(data);
		data = NULL;
		r.n++;
	}
	text = json_object_to_json_string_ext(m, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE);
	hsmca_bundle_sha256(text, strlen(text), r.sha256);
	/* manifest.json first: a reader sees what the bundle claims before the rest. */
	{
		struct hsmca_bundle ordered = { NULL, 0 };
		size_t k;
		int rc = hsmca_bundle_add(&ordered, "manifest.json", text, strlen(text), err);

		for (k = 0; rc == 0 && k < b.n; k++)
			rc = hsmca_bundle_add(&ordered, b.files[k].name, b.files[k].data, b.files[k].len,
					      err);
		if (rc == 0)
			rc = hsmca_bundle_write(out, &ordered, err);
		hsmca_bundle_clear(&ordered);
		if (rc != 0)
			goto out;
	}
	if (manifest_out && !(*manifest_out = strdup(text))) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	snprintf(r.ca, sizeof(r.ca), "%s", ca);
	snprintf(r.profile, sizeof(r.profile), "%s", profile);
	r.validity = validity;
	snprintf(r.note, sizeof(r.note), "%s", note ? note : "");
	*req = r;
	r.csrs = NULL;
	ret = 0;
out:
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	free(data);
	json_object_put(m);
	hsmca_bundle_clear(&b);
	hsmca_bundle_request_clear(&r);
	return ret;
}

static int jstr(json_object *o, const char *key, char *out, size_t len, hsmca_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return hsmca_error_set(err, "manifest.json: \"%s\" is missing or not a string", key);
	if (strlen(json_object_get_string(v)) >= len)
		return hsmca_error_set(err, "manifest.json: \"%s\" is too long", key);
	strcpy(out, json_object_get_string(v));
	return 0;
}

int hsmca_bundle_request_parse(const char *manifest, size_t len, struct hsmca_bundle_request *req,
			       hsmca_error *err)
{
	struct hsmca_bundle_request r;
	json_tokener *tok = json_tokener_new();
	json_object *m = NULL, *arr, *v;
	char fmt[32];
	size_t i;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	if (!tok)
		return hsmca_error_set(err, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	m = json_tokener_parse_ex(tok, manifest, (int)len);
	if (!m || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(m, json_type_object)) {
		hsmca_error_set(err, "manifest.json: not a JSON object");
		goto out;
	}
	if (jstr(m, "format", fmt, sizeof(fmt), err) != 0)
		goto out;
	if (strcmp(fmt, REQ_FORMAT) != 0) {
		hsmca_error_set(err, "manifest.json: format '%s', expected %s", fmt, REQ_FORMAT);
		goto out;
	}
	if (jstr(m, "id", r.id, sizeof(r.id), err) != 0 || jstr(m, "ca", r.ca, sizeof(r.ca), err) != 0 ||
	    jstr(m, "profile", r.profile, sizeof(r.profile), err) != 0 ||
	    jstr(m, "note", r.note, sizeof(r.note), err) != 0 ||
	    jstr(m, "requester", r.requester, sizeof(r.requester), err) != 0 ||
	    jstr(m, "time", r.time, sizeof(r.time), err) != 0)
		goto out;
	if (!json_object_object_get_ex(m, "validity_seconds", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		hsmca_error_set(err, "manifest.json: \"validity_seconds\" is missing or negative");
		goto out;
	}
	r.validity = json_object_get_int64(v);
	if (!json_object_object_get_ex(m, "csrs", &arr) || !json_object_is_type(arr, json_type_array) ||
	    json_object_array_length(arr) == 0 ||
	    json_object_array_length(arr) > HSMCA_BUNDLE_MAX_FILES) {
		hsmca_error_set(err, "manifest.json: \"csrs\" is missing or empty");
		goto out;
	}
	r.n = json_object_array_length(arr);
	r.csrs = calloc(r.n, sizeof(*r.csrs));
	if (!r.csrs) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < r.n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		struct hsmca_bundle_csr *c = &r.csrs[i];

		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "index", &v) ||
		    json_object_get_int64(v) != (int64_t)i + 1) {
			hsmca_error_set(err, "manifest.json: CSR entry %zu is not numbered %zu", i + 1,
					i + 1);
			goto out;
		}
		c->index = (unsigned)i + 1;
		if (jstr(o, "file", c->file, sizeof(c->file), err) != 0 ||
		    jstr(o, "source", c->source, sizeof(c->source), err) != 0 ||
		    jstr(o, "sha256", c->sha256, sizeof(c->sha256), err) != 0 ||
		    jstr(o, "spki_sha256", c->spki_sha256, sizeof(c->spki_sha256), err) != 0 ||
		    jstr(o, "key", c->key_type, sizeof(c->key_type), err) != 0 ||
		    jstr(o, "subject", c->subject, sizeof(c->subject), err) != 0 ||
		    jstr(o, "sans", c->sans, sizeof(c->sans), err) != 0)
			goto out;
	}
	hsmca_bundle_sha256(manifest, len, r.sha256);
	*req = r;
	r.csrs = NULL;
	ret = 0;
out:
	json_object_put(m);
	json_tokener_free(tok);
	hsmca_bundle_request_clear(&r);
	return ret;
}

int hsmca_bundle_request_load(const struct hsmca_bundle *b, struct hsmca_bundle_request *req,
			      hsmca_error *err)
{
	const struct hsmca_bundle_file *mf = hsmca_bundle_get(b, "manifest.json");
	struct hsmca_bundle_request r;
	size_t i;

	if (!mf)
		return hsmca_error_set(err, "the request has no manifest.json");
	if (hsmca_bundle_request_parse((const char *)mf->data, mf->len, &r, err) != 0)
		return -1;
	for (i = 0; i < b->n; i++) {
		const char *name = b->files[i].name;
		size_t k;
		bool listed = strcmp(name, "manifest.json") == 0;

		for (k = 0; !listed && k < r.n; k++)
			listed = strcmp(r.csrs[k].file, name) == 0;
		if (!listed) {
			hsmca_error_set(err, "%s: in the bundle but not in its manifest", name);
			goto fail;
		}
	}
	for (i = 0; i < r.n; i++) {
		struct hsmca_bundle_csr *c = &r.csrs[i], seen;
		const struct hsmca_bundle_file *f = hsmca_bundle_get(b, c->file);
		char h[65];

		if (!f) {
			hsmca_error_set(err, "%s (CSR %u): listed in the manifest but missing", c->file,
					c->index);
			goto fail;
		}
		hsmca_bundle_sha256(f->data, f->len, h);
		if (strcmp(h, c->sha256) != 0) {
			hsmca_error_set(err, "%s (CSR %u): SHA-256 does not match the manifest (the file "
					     "was altered)", c->file, c->index);
			goto fail;
		}
		memset(&seen, 0, sizeof(seen));
		if (describe_csr(f->data, f->len, &seen, err) != 0) {
			hsmca_error_prefix(err, "%s (CSR %u)", c->file, c->index);
			goto fail;
		}
		if (strcmp(seen.spki_sha256, c->spki_sha256) != 0) {
			hsmca_error_set(err, "%s (CSR %u): its key is not the key the manifest names",
					c->file, c->index);
			goto fail;
		}
		c->data = f->data;
		c->len = f->len;
	}
	*req = r;
	return 0;
fail:
	hsmca_bundle_request_clear(&r);
	return -1;
}
