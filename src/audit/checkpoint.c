/* Signed audit checkpoints: the audit key, signing, and verifying the log
 * and excerpts against them (checkpoint.h, docs/audit.md). */
#include "audit/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "audit/audit_line.h"
#include "common/b64.h"
#include "common/fsutil.h"
#include "common/sha2.h"
#include "common/util.h"
#include "x509/x509.h"

#define CP_FILE "audit.checkpoints"
#define CP_FORMAT "hsmca-audit-checkpoint-v1"

/* The exact bytes the audit key signs. */
static int cp_message(const struct hsmca_checkpoint *c, char *buf, size_t len)
{
	int n = snprintf(buf, len, CP_FORMAT "\nnumber=%zu\nseq=%zu\nhash=%s\ntime=%s\ntoken=%s\nkey=%s\n",
			 c->number, c->seq, c->hash, c->time, c->token, c->key);

	return n > 0 && (size_t)n < len ? n : -1;
}

static void spki_hash(EVP_PKEY *pkey, char out[65])
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pkey, &der);
	uint8_t md[32];

	if (n <= 0) {
		out[0] = '\0';
		return;
	}
	hsmca_sha2(256, der, (size_t)n, md);
	hsmca_hex(md, sizeof(md), out);
	OPENSSL_free(der);
}

int hsmca_checkpoint_key_init(hsmca_token *t, const char *home, hsmca_audit *a, hsmca_error *err)
{
	char path[PATH_MAX], uri[1024], fp[65];
	const uint8_t *spki;
	size_t spki_len, pem_len = 0;
	hsmca_key *k = NULL;
	char *pem = NULL;
	bool exists = false;
	int ret = -1;

	if (hsmca_path_join(path, sizeof(path), err, "%s/audit-key.pem", home) != 0 ||
	    hsmca_key_label_exists(t, HSMCA_AUDIT_KEY_LABEL, &exists, err) != 0)
		return -1;
	if (exists)
		return hsmca_error_set(err, "the token already holds an audit key (label %s)",
				       HSMCA_AUDIT_KEY_LABEL);
	if (hsmca_key_generate(t, HSMCA_KEY_EC_P256, HSMCA_AUDIT_KEY_LABEL, &k, err) != 0) {
		const char *d[] = { "purpose", "audit-checkpoints", NULL };

		hsmca_audit_append(a, "generate", HSMCA_AUDIT_KEY_LABEL, "failed", d, NULL);
		return -1;
	}
	hsmca_key_spki(k, &spki, &spki_len);
	pem = hsmca_pem_encode("PUBLIC KEY", spki, spki_len, &pem_len);
	if (!pem) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	if (hsmca_write_atomic(path, pem, pem_len, 0644, err) != 0)
		goto out;
	spki_hash(hsmca_key_pkey(k), fp);
	if (hsmca_key_uri(k, uri, sizeof(uri), err) != 0)
		goto out;
	{
		const char *d[] = { "purpose", "audit-checkpoints", "algorithm", "ecdsa-p256",
				    "spki_sha256", fp, NULL };

		if (hsmca_audit_append(a, "generate", uri, "ok", d, err) != 0)
			goto out;
	}
	ret = 0;
out:
	if (ret != 0 && k) {
		hsmca_key_destroy(k, NULL);
		unlink(path);
	}
	free(pem);
	hsmca_key_free(k);
	return ret;
}

int hsmca_checkpoint_key_export(hsmca_token *t, const char *home, hsmca_error *err)
{
	char path[PATH_MAX], *pem = NULL;
	const uint8_t *spki;
	size_t spki_len, pem_len = 0;
	hsmca_key *k = NULL;
	int ret = -1;

	if (hsmca_path_join(path, sizeof(path), err, "%s/audit-key.pem", home) != 0 ||
	    hsmca_key_find(t, HSMCA_AUDIT_KEY_LABEL, &k, err) != 0)
		return -1;
	hsmca_key_spki(k, &spki, &spki_len);
	pem = hsmca_pem_encode("PUBLIC KEY", spki, spki_len, &pem_len);
	if (!pem)
		hsmca_error_set(err, "out of memory");
	else if (hsmca_write_atomic(path, pem, pem_len, 0644, err) == 0)
		ret = 0;
	free(pem);
	hsmca_key_free(k);
	return ret;
}

/* Read lines of a text file one at a time (lines up to the audit limit). */
struct walker {
	FILE *f;
	char *buf;
	size_t cap;
};

static ssize_t walk_next(struct walker *w)
{
	ssize_t n = getline(&w->buf, &w->cap, w->f);

	if (n > 0 && w->buf[n - 1] == '\n')
		w->buf[--n] = '\0';
	else if (n > 0)
		return -2; /* no newline at the end */
	return n;
}

/* seq and hash of the last line of the log (0, zeros when empty). */
static int log_end(const char *path, size_t *seq, char hash[65], hsmca_error *err)
{
	struct walker w = { NULL, NULL, 0 };
	ssize_t n;
	size_t k = 0;
	int ret = -1;

	memcpy(hash, hsmca_audit_zero_hash, 65);
	w.f = fopen(path, "re");
	if (!w.f) {
		if (errno == ENOENT) {
			*seq = 0;
			return 0;
		}
		return hsmca_error_errno(err, "cannot open %s", path);
	}
	if (hsmca_audit_lock(fileno(w.f), LOCK_SH, path, err) != 0)
		goto out;
	while ((n = walk_next(&w)) >= 0) {
		k++;
		hsmca_audit_sha256_hex(w.buf, (size_t)n, hash, NULL);
	}
	if (n == -2) {
		hsmca_error_set(err, "%s: line %zu is incomplete", path, k + 1);
		goto out;
	}
	*seq = k;
	ret = 0;
out:
	free(w.buf);
	fclose(w.f);
	return ret;
}

static void safe_copy(char *out, size_t outlen, const char *in)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < outlen; i++) {
		char c = in[i];

		out[i] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				 c == '-' || c == '.' || c == '_'
			 ? c
			 : '_';
	}
	out[i] = '\0';
}

int hsmca_checkpoint_sign(hsmca_token *t, const char *home, hsmca_audit *a,
			  struct hsmca_checkpoint *out, hsmca_error *err)
{
	struct hsmca_checkpoint c;
	char logp[PATH_MAX], cpp[PATH_MAX], msg[512];
	uint8_t sig[HSMCA_SIG_MAX];
	size_t siglen = sizeof(sig), lines = 0, bad = 0;
	hsmca_key *k = NULL;
	char *b64 = NULL;
	FILE *f = NULL;
	int fd = -1, ret = -1, mlen, n;

	memset(&c, 0, sizeof(c));
	if (hsmca_path_join(logp, sizeof(logp), err, "%s/audit.log", home) != 0 ||
	    hsmca_path_join(cpp, sizeof(cpp), err, "%s/" CP_FILE, home) != 0)
		return -1;
	if (a && hsmca_audit_flush(a, err) != 0)
		return -1;
	if (hsmca_audit_verify(logp, &lines, &bad, err) != 0)
		return hsmca_error_prefix(err, "audit log %s is damaged; not signing a checkpoint of it",
					  logp);
	if (hsmca_key_find(t, HSMCA_AUDIT_KEY_LABEL, &k, err) != 0)
		return hsmca_error_prefix(err, "no audit key in the token (run 'hsmca audit key init')");
	fd = open(cpp, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		hsmca_error_errno(err, "cannot open %s", cpp);
		goto out;
	}
	if (hsmca_audit_lock(fd, LOCK_EX, cpp, err) != 0)
		goto out;
	/* Number and last seq from the file itself, under the lock. */
	{
		struct walker w = { fdopen(dup(fd), "r"), NULL, 0 };
		ssize_t ln;
		size_t last_seq = 0;

		if (!w.f) {
			hsmca_error_errno(err, "cannot read %s", cpp);
			goto out;
		}
		rewind(w.f);
		while ((ln = walk_next(&w)) >= 0) {
			json_object *o = json_tokener_parse(w.buf), *v;

			c.number++;
			if (o && json_object_object_get_ex(o, "seq", &v))
				last_seq = (size_t)json_object_get_int64(v);
			json_object_put(o);
		}
		free(w.buf);
		fclose(w.f);
		if (ln == -2) {
			hsmca_error_set(err, "%s: the last line is incomplete", cpp);
			goto out;
		}
		c.number++;
		if (log_end(logp, &c.seq, c.hash, err) != 0)
			goto out;
		if (c.seq < last_seq) {
			hsmca_error_set(err, "the audit log has %zu lines but checkpoint %zu covered line "
					     "%zu: lines were removed",
					c.seq, c.number - 1, last_seq);
			goto out;
		}
	}
	hsmca_format_time(hsmca_now(), c.time);
	safe_copy(c.token, sizeof(c.token), hsmca_token_get_info(t)->serial);
	spki_hash(hsmca_key_pkey(k), c.key);
	mlen = cp_message(&c, msg, sizeof(msg));
	if (mlen < 0) {
		hsmca_error_set(err, "checkpoint message too long");
		goto out;
	}
	if (hsmca_key_sign(k, HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)msg, (size_t)mlen, sig, &siglen,
			   err) != 0 ||
	    hsmca_verify_sig(hsmca_key_pkey(k), HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)msg,
			     (size_t)mlen, sig, siglen, err) != 0 ||
	    hsmca_b64_encode(sig, siglen, &b64, err) != 0)
		goto out;
	n = snprintf(c.line, sizeof(c.line),
		     "{\"checkpoint\":%zu,\"seq\":%zu,\"hash\":\"%s\",\"time\":\"%s\",\"token\":\"%s\","
		     "\"key\":\"%s\",\"sig\":\"%s\"}",
		     c.number, c.seq, c.hash, c.time, c.token, c.key, b64);
	if (n < 0 || (size_t)n + 1 >= sizeof(c.line)) {
		hsmca_error_set(err, "checkpoint line too long");
		goto out;
	}
	c.line[n] = '\n';
	if (write(fd, c.line, (size_t)n + 1) != n + 1 || fsync(fd) != 0) {
		hsmca_error_errno(err, "cannot append to %s", cpp);
		if (ftruncate(fd, lseek(fd, 0, SEEK_END) - (n + 1)) != 0) {
			/* reported above already */
		}
		goto out;
	}
	c.line[n] = '\0';
	if (out)
		*out = c;
	ret = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	free(b64);
	hsmca_key_free(k);
	return ret;
}

int hsmca_checkpoint_load_anchor(const char *path, EVP_PKEY **out, hsmca_error *err)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *p = NULL;
	X509 *x;

	if (!f)
		return hsmca_error_errno(err, "cannot open the anchor %s", path);
	p = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	if (!p) {
		rewind(f);
		x = PEM_read_X509(f, NULL, NULL, NULL);
		if (x) {
			p = X509_get_pubkey(x);
			X509_free(x);
		}
	}
	fclose(f);
	if (!p)
		return hsmca_error_openssl(err, "anchor %s: neither a PEM public key nor a PEM "
						"certificate", path);
	*out = p;
	return 0;
}

static int get_str(json_object *o, const char *key, char *out, size_t len, hsmca_error *err)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return hsmca_error_set(err, "no string field \"%s\"", key);
	s = json_object_get_string(v);
	if (strlen(s) >= len)
		return hsmca_error_set(err, "field \"%s\" too long", key);
	strcpy(out, s);
	return 0;
}

static int get_size(json_object *o, const char *key, size_t *out, hsmca_error *err)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return hsmca_error_set(err, "no number field \"%s\"", key);
	*out = (size_t)json_object_get_int64(v);
	return 0;
}

int hsmca_checkpoint_parse_verify(const char *line, size_t len, EVP_PKEY *anchor,
				  struct hsmca_checkpoint *out, hsmca_error *err)
{
	struct hsmca_checkpoint c;
	json_tokener *tok = NULL;
	json_object *o = NULL;
	char sigb64[512], msg[512], fp[65];
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int ret = -1, mlen;

	memset(&c, 0, sizeof(c));
	if (len >= sizeof(c.line))
		return hsmca_error_set(err, "checkpoint line too long");
	memcpy(c.line, line, len);
	tok = hsmca_audit_tokener_new(err);
	if (!tok)
		return -1;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || !json_object_is_type(o, json_type_object) ||
	    json_tokener_get_error(tok) != json_tokener_success) {
		hsmca_error_set(err, "not a JSON object");
		goto out;
	}
	if (json_object_object_length(o) != 7) {
		hsmca_error_set(err, "unexpected fields");
		goto out;
	}
	if (get_size(o, "checkpoint", &c.number, err) != 0 || get_size(o, "seq", &c.seq, err) != 0 ||
	    get_str(o, "hash", c.hash, sizeof(c.hash), err) != 0 ||
	    get_str(o, "time", c.time, sizeof(c.time), err) != 0 ||
	    get_str(o, "token", c.token, sizeof(c.token), err) != 0 ||
	    get_str(o, "key", c.key, sizeof(c.key), err) != 0 ||
	    get_str(o, "sig", sigb64, sizeof(sigb64), err) != 0)
		goto out;
	if (!hsmca_audit_is_hash(c.hash)) {
		hsmca_error_set(err, "hash is not 64 hex digits");
		goto out;
	}
	spki_hash(anchor, fp);
	if (strcmp(fp, c.key) != 0) {
		hsmca_error_set(err, "signed by audit key %.16s…, not by the anchor's key %.16s…", c.key,
				fp);
		goto out;
	}
	mlen = cp_message(&c, msg, sizeof(msg));
	if (mlen < 0 || hsmca_b64_decode(sigb64, strlen(sigb64), "sig", &sig, &siglen, err) != 0) {
		if (mlen < 0)
			hsmca_error_set(err, "checkpoint fields too long");
		goto out;
	}
	if (hsmca_verify_sig(anchor, HSMCA_SIG_ECDSA_SHA256, (const uint8_t *)msg, (size_t)mlen, sig,
			     siglen, err) != 0) {
		hsmca_error_set(err, "signature does not verify with the audit key (the checkpoint "
				     "was edited or not made by this key)");
		goto out;
	}
	*out = c;
	ret = 0;
out:
	free(sig);
	json_object_put(o);
	json_tokener_free(tok);
	return ret;
}

int hsmca_checkpoint_verify_log(const char *home, EVP_PKEY *anchor, size_t *n_checkpoints,
				size_t *lines, size_t *bad_line, hsmca_error *err)
{
	char logp[PATH_MAX], cpp[PATH_MAX], hash[65];
	struct hsmca_checkpoint *cps = NULL;
	struct walker w = { NULL, NULL, 0 };
	size_t n = 0, cap = 0, i = 0, k = 0, nlines = 0, bad = 0;
	ssize_t ln;
	int ret = -1;

	if (hsmca_path_join(logp, sizeof(logp), err, "%s/audit.log", home) != 0 ||
	    hsmca_path_join(cpp, sizeof(cpp), err, "%s/" CP_FILE, home) != 0)
		return -1;
	w.f = fopen(cpp, "re");
	if (!w.f && errno != ENOENT)
		return hsmca_error_errno(err, "cannot open %s", cpp);
	while (w.f && (ln = walk_next(&w)) != -1) {
		struct hsmca_checkpoint c;

		if (ln == -2) {
			hsmca_error_set(err, "%s: checkpoint %zu is incomplete", cpp, n + 1);
			goto out;
		}
		if (hsmca_checkpoint_parse_verify(w.buf, (size_t)ln, anchor, &c, err) != 0) {
			hsmca_error_prefix(err, "%s: checkpoint %zu", cpp, n + 1);
			goto out;
		}
		if (c.number != n + 1 || (n > 0 && c.seq < cps[n - 1].seq)) {
			hsmca_error_set(err, "%s: checkpoint %zu: numbered %zu, covering line %zu: "
					     "checkpoints were removed or reordered", cpp, n + 1,
					c.number, c.seq);
			goto out;
		}
		if (n == cap) {
			struct hsmca_checkpoint *p;

			cap = cap ? 2 * cap : 16;
			p = realloc(cps, cap * sizeof(*cps));
			if (!p) {
				hsmca_error_set(err, "out of memory");
				goto out;
			}
			cps = p;
		}
		cps[n++] = c;
	}
	if (w.f) {
		fclose(w.f);
		w.f = NULL;
	}
	if (hsmca_audit_verify(logp, &nlines, &bad, err) != 0)
		goto out;
	/* Second pass: each checkpoint's line must still hash as signed. */
	w.f = fopen(logp, "re");
	if (!w.f && errno != ENOENT) {
		hsmca_error_errno(err, "cannot open %s", logp);
		goto out;
	}
	while (i < n && cps[i].seq == 0)
		i++;
	while (w.f && i < n && (ln = walk_next(&w)) >= 0) {
		k++;
		hsmca_audit_sha256_hex(w.buf, (size_t)ln, hash, NULL);
		for (; i < n && cps[i].seq == k; i++) {
			if (strcmp(hash, cps[i].hash) != 0) {
				hsmca_error_set(err, "checkpoint %zu (signed %s by token %s): line %zu "
						     "hashes to %.16s… but the checkpoint signed "
						     "%.16s…: the log was rewritten at or before line %zu",
						cps[i].number, cps[i].time, cps[i].token, k, hash,
						cps[i].hash, k);
				bad = k;
				goto out;
			}
		}
	}
	if (i < n) {
		hsmca_error_set(err, "checkpoint %zu covers line %zu but the log has %zu lines: lines "
				     "were removed",
				cps[i].number, cps[i].seq, k);
		goto out;
	}
	if (n_checkpoints)
		*n_checkpoints = n;
	if (lines)
		*lines = nlines;
	ret = 0;
out:
	if (ret != 0 && bad_line)
		*bad_line = bad;
	if (w.f)
		fclose(w.f);
	free(w.buf);
	free(cps);
	return ret;
}

int hsmca_audit_lines(const char *path, size_t from, size_t to, char **out, size_t *len,
		      hsmca_error *err)
{
	struct walker w = { NULL, NULL, 0 };
	char *buf = NULL;
	size_t used = 0, cap = 0, k = 0;
	ssize_t ln;
	int ret = -1;

	w.f = fopen(path, "re");
	if (!w.f)
		return hsmca_error_errno(err, "cannot open %s", path);
	if (hsmca_audit_lock(fileno(w.f), LOCK_SH, path, err) != 0)
		goto out;
	while ((ln = walk_next(&w)) >= 0 && ++k <= to) {
		if (k < from)
			continue;
		if (used + (size_t)ln + 2 > cap) {
			char *p;

			cap = (used + (size_t)ln + 2) * 2;
			p = realloc(buf, cap);
			if (!p) {
				hsmca_error_set(err, "out of memory");
				goto out;
			}
			buf = p;
		}
		memcpy(buf + used, w.buf, (size_t)ln);
		used += (size_t)ln;
		buf[used++] = '\n';
	}
	if (k < to) {
		hsmca_error_set(err, "%s has %zu lines, fewer than %zu", path, k, to);
		goto out;
	}
	if (!buf && !(buf = calloc(1, 1))) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	*out = buf;
	*len = used;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	free(w.buf);
	fclose(w.f);
	return ret;
}

int hsmca_checkpoint_export(const char *home, size_t from, size_t to, const char *out,
			    hsmca_error *err)
{
	char logp[PATH_MAX], cpp[PATH_MAX], *lines = NULL, *all = NULL;
	struct walker w = { NULL, NULL, 0 };
	struct hsmca_checkpoint c;
	size_t len = 0;
	ssize_t ln;
	bool found = false;
	int ret = -1;

	if (from < 1 || to < from)
		return hsmca_error_set(err, "give 1 <= --from <= --to");
	if (hsmca_path_join(logp, sizeof(logp), err, "%s/audit.log", home) != 0 ||
	    hsmca_path_join(cpp, sizeof(cpp), err, "%s/" CP_FILE, home) != 0)
		return -1;
	w.f = fopen(cpp, "re");
	if (!w.f)
		return hsmca_error_errno(err, "cannot open %s (no checkpoint yet?)", cpp);
	memset(&c, 0, sizeof(c));
	while (!found && (ln = walk_next(&w)) >= 0) {
		json_object *o = json_tokener_parse(w.buf), *v;

		if (o && json_object_object_get_ex(o, "seq", &v) &&
		    (size_t)json_object_get_int64(v) >= to && (size_t)ln < sizeof(c.line)) {
			found = true;
			c.seq = (size_t)json_object_get_int64(v);
			memcpy(c.line, w.buf, (size_t)ln + 1);
		}
		json_object_put(o);
	}
	fclose(w.f);
	free(w.buf);
	if (!found)
		return hsmca_error_set(err, "no checkpoint covers line %zu yet (run 'hsmca audit "
					    "checkpoint')", to);
	if (hsmca_audit_lines(logp, from, c.seq, &lines, &len, err) != 0)
		return -1;
	all = malloc(len + strlen(c.line) + 2);
	if (!all) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(all, lines, len);
	len += (size_t)sprintf(all + len, "%s\n", c.line);
	if (hsmca_write_atomic(out, all, len, 0644, err) != 0)
		goto out;
	ret = 0;
out:
	free(lines);
	free(all);
	return ret;
}

int hsmca_checkpoint_verify_excerpt(const char *buf, size_t len, EVP_PKEY *anchor,
				    struct hsmca_checkpoint *cp, size_t *first, size_t *last,
				    hsmca_error *err)
{
	json_tokener *tok = hsmca_audit_tokener_new(err);
	char hash[65] = "";
	const char *p = buf, *end = buf + len, *nl;
	size_t k = 0, start = 0;
	int ret = -1;

	if (!tok)
		return -1;
	if (len == 0 || buf[len - 1] != '\n') {
		hsmca_error_set(err, "excerpt is empty or does not end in a newline");
		goto out;
	}
	for (; (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
		size_t ll = (size_t)(nl - p);
		struct hsmca_audit_rec rec;

		if (nl + 1 == end) { /* the checkpoint */
			if (hsmca_checkpoint_parse_verify(p, ll, anchor, cp, err) != 0) {
				hsmca_error_prefix(err, "excerpt checkpoint");
				goto out;
			}
			if (k == 0 || cp->seq != start + k - 1 || strcmp(cp->hash, hash) != 0) {
				hsmca_error_set(err, "excerpt: checkpoint %zu signed line %zu with hash "
						     "%.16s… but the excerpt ends at line %zu with hash "
						     "%.16s… (a line was altered, added or removed)",
						cp->number, cp->seq, cp->hash, start + k - 1, hash);
				goto out;
			}
			break;
		}
		if (hsmca_audit_line_parse(tok, p, ll, &rec, err) != 0) {
			hsmca_error_prefix(err, "excerpt line %zu", k + 1);
			goto out;
		}
		if (k == 0) {
			start = (size_t)rec.seq;
		} else if ((size_t)rec.seq != start + k || strcmp(rec.prev, hash) != 0) {
			hsmca_error_set(err, "excerpt: audit line %" PRId64 " does not follow line %zu "
					     "(a line was altered, removed or reordered)",
					rec.seq, start + k - 1);
			goto out;
		}
		hsmca_audit_sha256_hex(p, ll, hash, NULL);
		k++;
	}
	if (first)
		*first = start;
	if (last)
		*last = start + k - 1;
	ret = 0;
out:
	json_tokener_free(tok);
	return ret;
}
