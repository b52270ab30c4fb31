/* CRL v2 encoding, signing in the token and checking (RFC 5280 section 5). */
#include "store/crl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "store/records.h"
#include "x509/x509.h"

static const uint8_t oid_crl_number[] = { 0x55, 0x1d, 0x14 }; /* 2.5.29.20 */
static const uint8_t oid_crl_reason[] = { 0x55, 0x1d, 0x15 }; /* 2.5.29.21 */

/* Keeps a nonsense file from being read whole. */
#define CRLNUMBER_MAX_BYTES 64

static void encode_u64(struct hsmca_der *d, uint64_t v)
{
	uint8_t be[8];
	int i;

	for (i = 7; i >= 0; i--) {
		be[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	hsmca_der_uint(d, be, sizeof(be));
}

static void encode_entry(struct hsmca_der *d, const struct hsmca_crl_entry *e)
{
	size_t seq = hsmca_der_begin(d, DER_SEQUENCE);

	hsmca_der_uint(d, e->serial, e->serial_len);
	hsmca_der_time(d, e->revoked_at);
	/* RFC 5280 5.3.1: omit reasonCode rather than say "unspecified". */
	if (e->reason != 0) {
		size_t exts = hsmca_der_begin(d, DER_SEQUENCE);
		size_t ext = hsmca_der_begin(d, DER_SEQUENCE);
		size_t os;
		uint8_t code = (uint8_t)e->reason;

		hsmca_der_tlv(d, DER_OID, oid_crl_reason, sizeof(oid_crl_reason));
		os = hsmca_der_begin(d, DER_OCTET_STRING);
		hsmca_der_tlv(d, DER_ENUMERATED, &code, 1);
		hsmca_der_end(d, os);
		hsmca_der_end(d, ext);
		hsmca_der_end(d, exts);
	}
	hsmca_der_end(d, seq);
}

void hsmca_crl_tbs_encode(struct hsmca_der *d, enum hsmca_sigalg alg, const uint8_t *issuer,
			  size_t issuer_len, time_t this_update, time_t next_update,
			  const struct hsmca_crl_entry *entries, size_t n, const uint8_t aki[20],
			  uint64_t number)
{
	size_t tbs = hsmca_der_begin(d, DER_SEQUENCE);
	size_t ctx, exts, ext, os, i;

	hsmca_der_int(d, 1); /* v2 */
	hsmca_sigalg_der(d, alg);
	hsmca_der_raw(d, issuer, issuer_len);
	hsmca_der_time(d, this_update);
	hsmca_der_time(d, next_update);
	/* An empty list is left out, not encoded as an empty SEQUENCE. */
	if (n) {
		size_t list = hsmca_der_begin(d, DER_SEQUENCE);

		for (i = 0; i < n; i++)
			encode_entry(d, &entries[i]);
		hsmca_der_end(d, list);
	}
	ctx = hsmca_der_begin(d, DER_CTX(0));
	exts = hsmca_der_begin(d, DER_SEQUENCE);
	hsmca_ext_aki(d, aki);
	ext = hsmca_der_begin(d, DER_SEQUENCE);
	hsmca_der_tlv(d, DER_OID, oid_crl_number, sizeof(oid_crl_number));
	os = hsmca_der_begin(d, DER_OCTET_STRING);
	encode_u64(d, number);
	hsmca_der_end(d, os);
	hsmca_der_end(d, ext);
	hsmca_der_end(d, exts);
	hsmca_der_end(d, ctx);
	hsmca_der_end(d, tbs);
}

int hsmca_crl_last_number(const char *ca_dir, uint64_t *out, hsmca_error *err)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0, i;
	uint64_t v = 0;
	int ret = -1;

	if (hsmca_path_join(path, sizeof(path), err, "%s/crlnumber", ca_dir) != 0)
		return -1;
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		*out = 0;
		return 0;
	}
	if (hsmca_read_file(path, CRLNUMBER_MAX_BYTES, &buf, &len, err) != 0)
		return -1;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > 20 || (buf[0] == '0' && len > 1))
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(buf[i] - '0');

		if (buf[i] < '0' || buf[i] > '9' || v > (UINT64_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	*out = v;
	ret = 0;
	goto out;
bad:
	hsmca_error_set(err, "%s does not hold a CRL number (a decimal integer); refusing to guess "
			     "the next one", path);
out:
	free(buf);
	return ret;
}

/* Re-parse the signed CRL with OpenSSL and check what it says. */
static int crl_check(const uint8_t *der, size_t len, const uint8_t *tbs, size_t tbs_len,
		     const struct hsmca_ca *ca, uint64_t number, size_t n, hsmca_error *err)
{
	const unsigned char *p = der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
	ASN1_INTEGER *num = NULL;
	STACK_OF(X509_REVOKED) *list;
	uint64_t got = 0;
	int ret = -1;

	if (!crl || p != der + len) {
		hsmca_error_openssl(err, "the signed CRL does not re-parse");
		goto out;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(ca->x509)) != 1) {
		hsmca_error_openssl(err, "the signed CRL does not verify with the CA certificate's key");
		goto out;
	}
	if (!hsmca_signed_holds_tbs(der, len, tbs, tbs_len)) {
		hsmca_error_set(err, "the signed CRL does not hold the TBS that was built");
		goto out;
	}
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	list = X509_CRL_get_REVOKED(crl); /* NULL when the list is left out */
	if (!num || ASN1_INTEGER_get_uint64(&got, num) != 1 || got != number ||
	    X509_CRL_get_version(crl) != X509_CRL_VERSION_2 ||
	    (list ? (size_t)sk_X509_REVOKED_num(list) : 0) != n) {
		hsmca_error_set(err, "the signed CRL re-parses with a different number, version or "
				     "entry count");
		goto out;
	}
	ret = 0;
out:
	ASN1_INTEGER_free(num);
	X509_CRL_free(crl);
	return ret;
}

static void audit_failed(struct hsmca_session *s, const struct hsmca_ca *ca, uint64_t number,
			 const char *why)
{
	char num[24];
	const char *d[] = { "kind", "crl", "crl_number", num, "reason", why, NULL };

	snprintf(num, sizeof(num), "%" PRIu64, number);
	hsmca_session_audit(s, "sign", ca->name, "failed", d, NULL);
}

/* thisUpdate now; nextUpdate clamped to the CA's notAfter. */
static int crl_times(const struct hsmca_ca *ca, int64_t next_update_secs, struct hsmca_crl_info *ci,
		     hsmca_error *err)
{
	char na[21];

	if (next_update_secs <= 0)
		return hsmca_error_set(err, "the next-update interval must be positive");
	ci->this_update = hsmca_now();
	if (ci->this_update >= ca->not_after) {
		hsmca_format_time(ca->not_after, na);
		return hsmca_error_set(err, "the CA certificate expired at %s; a CRL from it would "
					    "vouch for nothing", na);
	}
	ci->clamped = next_update_secs > ca->not_after - ci->this_update;
	ci->next_update = ci->clamped ? ca->not_after : ci->this_update + next_update_secs;
	return 0;
}

/* An exclusive flock on the CA directory, held until *fd is closed. */
static int lock_ca_dir(const struct hsmca_ca *ca, int *fd, hsmca_error *err)
{
	int d = open(ca->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (d < 0)
		return hsmca_error_errno(err, "cannot open %s", ca->dir);
	while (flock(d, LOCK_EX) != 0) {
		if (errno != EINTR) {
			hsmca_error_errno(err, "cannot lock %s", ca->dir);
			close(d);
			return -1;
		}
	}
	*fd = d;
	return 0;
}

/* The next number and the TBSCertList listing every recorded revocation. */
static int crl_tbs(const struct hsmca_ca *ca, struct hsmca_crl_info *ci, struct hsmca_der *tbs,
		   hsmca_error *err)
{
	struct hsmca_revocation *rv = NULL;
	struct hsmca_crl_entry *entries = NULL;
	size_t n = 0, i;
	uint64_t last;
	int ret = -1;

	if (hsmca_crl_last_number(ca->dir, &last, err) != 0)
		return -1;
	if (last == UINT64_MAX)
		return hsmca_error_set(err, "the CRL number cannot grow further");
	if (hsmca_revocations(ca->dir, &rv, &n, err) != 0)
		return -1;
	if (n && !(entries = calloc(n, sizeof(*entries)))) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		entries[i] = (struct hsmca_crl_entry){ rv[i].serial, rv[i].serial_len, rv[i].revoked_at,
						       rv[i].reason };
	ci->number = last + 1;
	ci->revoked = n;
	hsmca_crl_tbs_encode(tbs, ca->sigalg, ca->subject_der, ca->subject_der_len, ci->this_update,
			     ci->next_update, entries, n, ca->ski, ci->number);
	if (!hsmca_der_ok(tbs)) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	ret = 0;
out:
	free(entries);
	free(rv);
	return ret;
}

/* Spend the number (atomically, before anyone sees the CRL: a crash from
 * here on skips a number, it never hands out two CRLs with one number),
 * then record the signature in the audit log. */
static int crl_commit(struct hsmca_session *s, const struct hsmca_ca *ca,
		      const struct hsmca_crl_info *ci, hsmca_error *err)
{
	char path[PATH_MAX], text[32], num[24], cnt[24], nu[21];
	const char *d[] = { "kind", "crl", "crl_number", num, "revoked", cnt, "next_update", nu, NULL };
	int len = snprintf(text, sizeof(text), "%" PRIu64 "\n", ci->number);

	if (hsmca_path_join(path, sizeof(path), err, "%s/crlnumber", ca->dir) != 0 ||
	    hsmca_write_atomic(path, text, (size_t)len, 0644, err) != 0)
		return -1;
	snprintf(num, sizeof(num), "%" PRIu64, ci->number);
	snprintf(cnt, sizeof(cnt), "%zu", ci->revoked);
	hsmca_format_time(ci->next_update, nu);
	return hsmca_session_audit(s, "sign", ca->name, "ok", d, err);
}

int hsmca_crl_build_ex(struct hsmca_session *s, const struct hsmca_ca *ca,
		       int64_t next_update_secs, struct hsmca_der *out, struct hsmca_crl_info *info,
		       hsmca_error *err)
{
	struct hsmca_crl_info ci;
	struct hsmca_der tbs, crl;
	hsmca_key *key = NULL;
	int dirfd = -1, ret = -1;

	memset(&ci, 0, sizeof(ci));
	hsmca_der_init(&tbs);
	hsmca_der_init(&crl);
	if (crl_times(ca, next_update_secs, &ci, err) != 0 || lock_ca_dir(ca, &dirfd, err) != 0 ||
	    crl_tbs(ca, &ci, &tbs, err) != 0 || hsmca_ca_open_key(s, ca, &key, err) != 0)
		goto out;
	if (hsmca_signed_assemble(key, ca->sigalg, tbs.buf, tbs.len, &crl, err) != 0 ||
	    crl_check(crl.buf, crl.len, tbs.buf, tbs.len, ca, ci.number, ci.revoked, err) != 0) {
		audit_failed(s, ca, ci.number, err ? err->msg : "");
		goto out;
	}
	if (crl_commit(s, ca, &ci, err) != 0)
		goto out;
	hsmca_der_free(out);
	*out = crl;
	hsmca_der_init(&crl);
	if (info)
		*info = ci;
	ret = 0;
out:
	if (ret != 0)
		hsmca_error_prefix(err, "CRL for CA '%s'", ca->name);
	hsmca_key_free(key);
	hsmca_der_free(&crl);
	hsmca_der_free(&tbs);
	if (dirfd >= 0)
		close(dirfd); /* releases the lock */
	return ret;
}

int hsmca_crl_build(struct hsmca_session *s, const struct hsmca_ca *ca, int64_t next_update_secs,
		    struct hsmca_der *out, uint64_t *crl_number, hsmca_error *err)
{
	struct hsmca_crl_info info;

	if (hsmca_crl_build_ex(s, ca, next_update_secs, out, &info, err) != 0)
		return -1;
	if (crl_number)
		*crl_number = info.number;
	return 0;
}
