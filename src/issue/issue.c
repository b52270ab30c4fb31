/* Issuance: the profile applied to a CSR, the TBS built in DER, and the
 * single-certificate path (`hsmca sign`).  The batch engine is in
 * issue_batch.c; both share prepare/finish from issue_internal.h. */
#include "issue/issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/sha2.h"
#include "common/util.h"
#include "issue/issue_internal.h"
#include "issue/profile.h"

void hsmca_issued_clear(struct hsmca_issued *out)
{
	if (!out)
		return;
	free(out->der);
	memset(out, 0, sizeof(*out));
}

/* "CN=alice,O=dev,O=ops" → cn, o[]: only CN and O may be given. */
static int parse_override(const char *s, char *cn, size_t cnlen, char (*o)[64], size_t *n_o,
			  hsmca_error *err)
{
	const char *p = s;

	*n_o = 0;
	cn[0] = '\0';
	while (*p) {
		char attr[8], val[128];
		size_t a = 0, v = 0;

		while (*p == ' ')
			p++;
		while (*p && *p != '=' && a + 1 < sizeof(attr))
			attr[a++] = *p++;
		attr[a] = '\0';
		if (*p != '=')
			return hsmca_error_set(err, "--subject '%s': expected CN=… or O=…", s);
		p++;
		while (*p && *p != ',') {
			if (*p == '\\' && p[1])
				p++;
			if (v + 1 >= sizeof(val))
				return hsmca_error_set(err, "--subject '%s': value too long", s);
			val[v++] = *p++;
		}
		val[v] = '\0';
		if (*p == ',')
			p++;
		if (v == 0)
			return hsmca_error_set(err, "--subject '%s': %s is empty", s, attr);
		for (a = 0; a < v; a++)
			if ((unsigned char)val[a] < 0x20 || val[a] == 0x7f)
				return hsmca_error_set(err, "--subject: control characters are not allowed");
		if (strcasecmp(attr, "CN") == 0) {
			if (cn[0])
				return hsmca_error_set(err, "--subject '%s': more than one CN", s);
			if (v >= cnlen)
				return hsmca_error_set(err, "--subject '%s': CN too long", s);
			memcpy(cn, val, v + 1);
		} else if (strcasecmp(attr, "O") == 0) {
			if (*n_o == 8 || v >= 64)
				return hsmca_error_set(err, "--subject '%s': too many or too long O values", s);
			memcpy(o[(*n_o)++], val, v + 1);
		} else {
			return hsmca_error_set(err, "--subject '%s': only CN and O can be set (the profile "
						    "decides the rest)", s);
		}
	}
	return 0;
}

/* RFC 4514 text of CN + O values, with the special characters escaped. */
static void subject_text(const struct hsmca_plan *plan, char *out, size_t outlen)
{
	size_t o = 0, i;

	for (i = 0; i <= plan->n_o && o + 1 < outlen; i++) {
		const char *v = i == 0 ? plan->cn : plan->o[i - 1];
		const char *attr = i == 0 ? "CN=" : o ? ",O=" : "O=";

		if (i == 0 && !*v)
			attr = "";
		o += (size_t)snprintf(out + o, outlen - o, "%s", attr);
		for (; *v && o + 3 < outlen; v++) {
			if (strchr(",+\\\"<>;=", *v) || (*v == '#' && v == (i == 0 ? plan->cn : plan->o[i - 1])))
				out[o++] = '\\';
			out[o++] = *v;
		}
		if (o >= outlen)
			o = outlen - 1;
		out[o] = '\0';
	}
}

static const char *eku_name(unsigned bit)
{
	switch (bit) {
	case HSMCA_EKU_SERVER_AUTH: return "serverAuth";
	case HSMCA_EKU_CLIENT_AUTH: return "clientAuth";
	case HSMCA_EKU_CODE_SIGNING: return "codeSigning";
	case HSMCA_EKU_EMAIL_PROTECTION: return "emailProtection";
	case HSMCA_EKU_OCSP_SIGNING: return "OCSPSigning";
	default: return "timeStamping";
	}
}

static const char *san_kind_name(unsigned k)
{
	switch (k) {
	case HSMCA_SAN_DNS: return "DNS";
	case HSMCA_SAN_IP: return "IP";
	case HSMCA_SAN_URI: return "URI";
	default: return "email";
	}
}

static bool san_equal(const struct hsmca_san *a, const struct hsmca_san *b)
{
	return a->kind == b->kind && a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
}

int hsmca_issue_plan(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
		     const struct hsmca_plan_input *in, struct hsmca_plan *plan, hsmca_error *err)
{
	const struct hsmca_profile_def *p = &iss->profile;
	char ocn[128];
	char oo[8][64];
	size_t n_oo = 0, i, j;
	const char *cn;
	int64_t validity;
	time_t now = in->now;

	/* All but the SAN slots (the first member), written as they are filled. */
	memset((char *)plan + sizeof(plan->sans), 0, sizeof(*plan) - sizeof(plan->sans));
	if (csr->wants_ca && !p->is_ca)
		return hsmca_error_set(err, "the CSR asks for CA:TRUE but profile '%s' issues leaf "
					    "certificates", p->name);
	if (!p->is_ca && (csr->wants_ku & (HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN)))
		return hsmca_error_set(err, "the CSR asks for keyCertSign/cRLSign but profile '%s' "
					    "issues leaf certificates", p->name);
	if (csr->wants_unknown_eku)
		return hsmca_error_set(err, "the CSR asks for extended key usage %s, which profile "
					    "'%s' does not allow", csr->unknown_eku, p->name);
	if (csr->wants_eku & ~p->ext_key_usage) {
		unsigned bad = csr->wants_eku & ~p->ext_key_usage;

		return hsmca_error_set(err, "the CSR asks for extended key usage %s, which profile '%s' "
					    "does not allow", eku_name(bad & -bad), p->name);
	}

	/* Subject: CN and O only, as the profile says. */
	ocn[0] = '\0';
	if (in->subject && parse_override(in->subject, ocn, sizeof(ocn), oo, &n_oo, err) != 0)
		return -1;
	/* A reserved name asked for is refused, even where the profile would
	 * drop or replace it: only the profile meant for it issues it. */
	if (hsmca_issue_policy_names(p, csr->cn, (const char (*)[64])csr->o, csr->n_o, err) != 0 ||
	    hsmca_issue_policy_names(p, ocn, (const char (*)[64])oo, n_oo, err) != 0)
		return -1;
	cn = ocn[0] ? ocn : csr->cn;
	if (p->subject_cn[0]) {
		size_t fl = strlen(p->subject_cn);

		if (p->subject_cn[fl - 1] == '*') {
			if (strncmp(cn, p->subject_cn, fl - 1) != 0 || strlen(cn) == fl - 1)
				return hsmca_error_set(err, "profile '%s' needs CN=%.*s<name>; the request "
							    "has CN='%s'", p->name, (int)fl - 1, p->subject_cn, cn);
			snprintf(plan->cn, sizeof(plan->cn), "%s", cn);
		} else {
			if (cn[0] && strcmp(cn, p->subject_cn) != 0)
				return hsmca_error_set(err, "profile '%s' fixes CN=%s; the request has "
							    "CN='%s'", p->name, p->subject_cn, cn);
			snprintf(plan->cn, sizeof(plan->cn), "%s", p->subject_cn);
		}
	} else {
		/* No CN: a SAN-only identity, where the profile issues SANs
		 * (checked once the SANs are known). */
		if (!cn[0] && !p->san_kinds)
			return hsmca_error_set(err, "the request has no CN and profile '%s' does not set "
						    "one (give --subject CN=…)", p->name);
		snprintf(plan->cn, sizeof(plan->cn), "%s", cn);
	}
	{
		const char (*ro)[64] = n_oo ? (const char (*)[64])oo : (const char (*)[64])csr->o;
		size_t nro = n_oo ? n_oo : csr->n_o;
		/* kube-user: groups are authority, so they come from the operator's
		 * --subject, never from the requester's CSR. */
		bool flags_only = strcmp(p->name, "kube-user") == 0;

		if (flags_only) {
			if (csr->n_o)
				snprintf(plan->note, sizeof(plan->note), "the CSR's O (group) values were "
									 "ignored: profile '%s' takes groups "
									 "only from --subject", p->name);
			ro = (const char (*)[64])oo;
			nro = n_oo;
		}
		if (p->n_subject_o > 0) {
			for (i = 0; i < nro; i++) {
				bool ok = false;

				for (j = 0; j < (size_t)p->n_subject_o; j++)
					ok |= strcmp(ro[i], p->subject_o[j]) == 0;
				if (!ok)
					return hsmca_error_set(err, "profile '%s' fixes O=%s; the request asks "
								    "O='%s'", p->name, p->subject_o[0], ro[i]);
			}
			for (j = 0; j < (size_t)p->n_subject_o; j++)
				snprintf(plan->o[plan->n_o++], 64, "%s", p->subject_o[j]);
		} else if (p->o_from_csr) {
			for (i = 0; i < nro; i++)
				snprintf(plan->o[plan->n_o++], 64, "%s", ro[i]);
		} else if (nro > 0) {
			snprintf(plan->note, sizeof(plan->note), "O values of the request dropped: "
								 "profile '%s' sets none", p->name);
		}
	}

	/* SANs: the CSR's plus --san, each of a kind the profile allows. */
	for (i = 0; i < csr->n_sans + in->n_sans; i++) {
		const struct hsmca_san *s = i < csr->n_sans ? &csr->sans[i] : &in->sans[i - csr->n_sans];
		bool dup = false;

		if (!(p->san_kinds & s->kind)) {
			char txt[300];

			hsmca_san_format(s, txt, sizeof(txt));
			return hsmca_error_set(err, "the request asks for a %s SAN (%s), which profile '%s' "
						    "does not allow", san_kind_name(s->kind), txt, p->name);
		}
		for (j = 0; j < plan->n_sans; j++)
			dup |= san_equal(&plan->sans[j], s);
		if (dup)
			continue;
		if (plan->n_sans == HSMCA_ISSUE_MAX_SANS)
			return hsmca_error_set(err, "more than %d SANs", HSMCA_ISSUE_MAX_SANS);
		plan->sans[plan->n_sans++] = *s;
	}
	if (p->require_san && plan->n_sans == 0)
		return hsmca_error_set(err, "profile '%s' needs at least one SAN (give --san DNS:… or "
					    "IP:…)", p->name);
	if (!plan->cn[0] && plan->n_sans == 0)
		return hsmca_error_set(err, "the request has no CN and no SAN: nothing would name the "
					    "holder (give --subject CN=… or --san)");
	/* Decided on the names as planned, whichever source they came from. */
	if (hsmca_issue_policy_names(p, plan->cn, (const char (*)[64])plan->o, plan->n_o, err) != 0)
		return -1;

	/* Usages. */
	plan->ku = p->key_usage;
	if (!p->is_ca && (plan->ku & HSMCA_KU_DIGITAL_SIGNATURE) &&
	    (csr->key_type == HSMCA_KEY_RSA_2048 || csr->key_type == HSMCA_KEY_RSA_3072 ||
	     csr->key_type == HSMCA_KEY_RSA_4096))
		plan->ku |= HSMCA_KU_KEY_ENCIPHERMENT;
	plan->eku = p->ext_key_usage;
	plan->is_ca = p->is_ca;
	plan->path_len = hsmca_issue_policy_path_len(iss, p->path_len);

	/* Validity: never longer than the profile allows, never past the issuer. */
	validity = in->validity ? in->validity : p->default_validity;
	if (validity > p->max_validity)
		return hsmca_error_set(err, "requested validity of %lld days exceeds profile '%s''s "
					    "maximum of %lld days", (long long)(validity / 86400), p->name,
				       (long long)(p->max_validity / 86400));
	plan->not_before = now - 300; /* tolerate clock skew, as kubeadm and cfssl do */
	if (plan->not_before < iss->ca->not_before)
		plan->not_before = iss->ca->not_before;
	plan->not_after = plan->not_before + validity; /* never longer than asked */
	if (plan->not_after > iss->ca->not_after) {
		if (in->validity) {
			char na[21];

			hsmca_format_time(iss->ca->not_after, na);
			return hsmca_error_set(err, "requested validity runs past the issuer's notAfter "
						    "(%s); ask for a shorter --validity", na);
		}
		plan->not_after = iss->ca->not_after;
		snprintf(plan->note, sizeof(plan->note), "notAfter clamped to the issuer's notAfter");
	}
	if (plan->not_after <= plan->not_before)
		return hsmca_error_set(err, "the issuer expires before the certificate would start");
	return 0;
}

int hsmca_issue_tbs(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
		    const struct hsmca_plan *plan, const uint8_t *serial, size_t serial_len,
		    struct hsmca_der *scratch, struct hsmca_der *tbs, hsmca_error *err)
{
	struct hsmca_tbs t;
	uint8_t ski[20];
	size_t seq, name_len;

	if (hsmca_key_id(csr->spki, csr->spki_len, ski, err) != 0)
		return -1;
	/* scratch = subject Name, then the Extensions SEQUENCE. */
	hsmca_der_reset(scratch);
	if (hsmca_name_encode_parts(plan->cn, (const char (*)[64])plan->o, plan->n_o, scratch, err) != 0)
		return -1;
	name_len = scratch->len;
	seq = hsmca_der_begin(scratch, DER_SEQUENCE);
	hsmca_ext_key_usage(scratch, plan->ku);
	if (plan->eku)
		hsmca_ext_ext_key_usage(scratch, plan->eku);
	hsmca_ext_basic_constraints(scratch, plan->is_ca, plan->path_len);
	hsmca_ext_ski(scratch, ski);
	hsmca_ext_aki(scratch, iss->ca->ski);
	/* RFC 5280 4.2.1.6: with an empty subject the SAN is the identity, and critical. */
	if (plan->n_sans)
		hsmca_ext_san(scratch, plan->sans, plan->n_sans, !plan->cn[0] && plan->n_o == 0);
	hsmca_ext_ca_urls(scratch, iss->ca->crl_url, iss->ca->issuer_url);
	hsmca_der_end(scratch, seq);
	if (!hsmca_der_ok(scratch))
		return hsmca_error_set(err, "out of memory");

	memset(&t, 0, sizeof(t));
	t.sigalg = iss->ca->sigalg;
	memcpy(t.serial, serial, serial_len);
	t.serial_len = serial_len;
	t.issuer = iss->ca->subject_der;
	t.issuer_len = iss->ca->subject_der_len;
	t.subject = scratch->buf;
	t.subject_len = name_len;
	t.not_before = plan->not_before;
	t.not_after = plan->not_after;
	t.spki = csr->spki; /* the CSR's bytes, copied as they are */
	t.spki_len = csr->spki_len;
	t.extensions = scratch->buf + name_len;
	t.extensions_len = scratch->len - name_len;
	hsmca_der_reset(tbs);
	hsmca_tbs_encode(tbs, &t);
	if (!hsmca_der_ok(tbs))
		return hsmca_error_set(err, "out of memory");
	return 0;
}

int hsmca_issue_lint_fast(const struct hsmca_issuer *iss, const struct hsmca_plan *plan,
			  const uint8_t *serial, size_t serial_len, hsmca_error *err)
{
	/* The rules on the plan, before the TBS bytes are parsed back by the
	 * full lint (hsmca_issue_lint_full), which every certificate gets. */
	if (serial_len < 16 || serial_len > 20 || (serial[0] & 0x80) || serial[0] == 0)
		return hsmca_error_set(err, "lint: serial must be positive, 16..20 bytes");
	if (plan->not_after <= plan->not_before)
		return hsmca_error_set(err, "lint: notBefore is not before notAfter");
	if (plan->not_after > iss->ca->not_after)
		return hsmca_error_set(err, "lint: notAfter runs past the issuer's notAfter");
	if (!plan->is_ca && (plan->ku & HSMCA_KU_KEY_CERT_SIGN))
		return hsmca_error_set(err, "lint: a leaf must not have keyCertSign");
	if (!plan->cn[0] && plan->n_sans == 0)
		return hsmca_error_set(err, "lint: empty subject without SANs");
	return 0;
}

int hsmca_issue_lint_full(const struct hsmca_issuer *iss, const struct hsmca_plan *plan,
			  const struct hsmca_der *tbs, bool der_walk, hsmca_error *err)
{
	struct hsmca_lint_expect ex;

	memset(&ex, 0, sizeof(ex));
	ex.ca = plan->is_ca;
	ex.root = false;
	ex.path_len = plan->is_ca ? plan->path_len : -1;
	ex.ku = plan->ku;
	ex.issuer_not_after = iss->ca->not_after;
	ex.issuer = iss->ca->x509;
	return (der_walk ? hsmca_lint_tbs_der : hsmca_lint_tbs)(tbs->buf, tbs->len, &ex, err);
}

void hsmca_issue_record_fill(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
			     const struct hsmca_plan *plan, const uint8_t *serial, size_t serial_len,
			     const uint8_t *cert, size_t cert_len, struct hsmca_record *rec)
{
	memcpy(rec->serial, serial, serial_len);
	rec->serial_len = serial_len;
	subject_text(plan, rec->subject, sizeof(rec->subject));
	snprintf(rec->profile, sizeof(rec->profile), "%s", iss->profile.name);
	rec->not_before = plan->not_before;
	rec->not_after = plan->not_after;
	rec->issued_at = hsmca_now();
	hsmca_sha2(256, csr->spki, csr->spki_len, rec->csr_key_sha256);
	hsmca_sha2(256, cert, cert_len, rec->cert_sha256);
}

int hsmca_issue_record(const struct hsmca_issuer *iss, const struct hsmca_csr *csr,
		       const struct hsmca_plan *plan, const uint8_t *serial, size_t serial_len,
		       const uint8_t *cert, size_t cert_len, bool deferred, hsmca_error *err)
{
	struct hsmca_record rec;
	char serial_hex[41];
	int rc;

	memset(&rec, 0, sizeof(rec));
	hsmca_issue_record_fill(iss, csr, plan, serial, serial_len, cert, cert_len, &rec);
	hsmca_hex(serial, serial_len, serial_hex);
	{
		/* The signature happened: audit it first, then record the certificate. */
		const char *d[] = { "ca", iss->ca->name, "kind", "certificate", "profile",
				    iss->profile.name, "serial", serial_hex, "subject", rec.subject, NULL };

		rc = deferred ? hsmca_audit_append_deferred(iss->audit, "sign", iss->key_uri, "ok", d, err)
			      : hsmca_audit_append(iss->audit, "sign", iss->key_uri, "ok", d, err);
	}
	if (rc != 0)
		return -1;
	return hsmca_records_append(iss->records, &rec, err);
}

int hsmca_issue_min_rsa(const struct hsmca_profile_def *p)
{
	/* A CA key is never weaker than RSA-3072, whatever a custom profile says. */
	if (p->is_ca && p->min_rsa_bits < 3072)
		return 3072;
	return p->min_rsa_bits < 2048 ? 2048 : p->min_rsa_bits;
}

/* The CA, its key and profile from the state directory. */
int hsmca_issuer_open(struct hsmca_session *s, const char *ca_name, const char *profile,
		      struct hsmca_issuer *iss, struct hsmca_ca **ca_out, hsmca_error *err)
{
	struct hsmca_ca *ca = NULL;

	memset(iss, 0, sizeof(*iss));
	iss->session = s;
	iss->audit = s->audit;
	if (hsmca_profile_get(s->home, profile, &iss->profile, err) != 0 ||
	    hsmca_ca_load(s->home, ca_name, &ca, err) != 0)
		goto fail;
	iss->ca = ca;
	/* What the CA may issue is decided before its key or records are touched. */
	if (hsmca_issue_policy_issuer(iss, s->home, err) != 0)
		goto fail;
	if (hsmca_ca_open_key(s, ca, &iss->key, err) != 0 ||
	    hsmca_key_uri(iss->key, iss->key_uri, sizeof(iss->key_uri), err) != 0 ||
	    hsmca_records_open(ca->dir, &iss->records, err) != 0)
		goto fail;
	if (ca->not_after <= hsmca_now()) {
		hsmca_error_set(err, "CA '%s' expired; it can no longer issue", ca_name);
		goto fail;
	}
	*ca_out = ca;
	return 0;
fail:
	hsmca_issuer_close(iss);
	hsmca_ca_free(ca);
	return -1;
}

void hsmca_issuer_close(struct hsmca_issuer *iss)
{
	hsmca_records_close(iss->records);
	hsmca_key_free(iss->key);
	iss->records = NULL;
	iss->key = NULL;
}

int hsmca_issue_one(struct hsmca_session *s, const struct hsmca_issue_request *req,
		    struct hsmca_issued *out, hsmca_error *err)
{
	struct hsmca_issuer iss;
	struct hsmca_ca *ca = NULL;
	struct hsmca_csr csr;
	struct hsmca_plan plan;
	struct hsmca_plan_input in;
	struct hsmca_san extra[HSMCA_ISSUE_MAX_SANS];
	struct hsmca_der scratch, tbs, cert;
	uint8_t *pem_scratch = NULL, serial[20];
	size_t i;
	int ret = -1, rc;

	memset(out, 0, sizeof(*out));
	hsmca_der_init(&scratch);
	hsmca_der_init(&tbs);
	hsmca_der_init(&cert);
	memset(&in, 0, sizeof(in));
	if (req->n_sans > HSMCA_ISSUE_MAX_SANS)
		return hsmca_error_set(err, "more than %d --san values", HSMCA_ISSUE_MAX_SANS);
	for (i = 0; i < req->n_sans; i++)
		if (hsmca_san_parse(req->sans[i], &extra[i], err) != 0)
			return -1;
	if (req->csr_len > HSMCA_CSR_MAX)
		return hsmca_error_set(err, "the CSR is larger than %d bytes", HSMCA_CSR_MAX);
	pem_scratch = malloc(req->csr_len + 1);
	if (!pem_scratch)
		return hsmca_error_set(err, "out of memory");
	if (hsmca_issuer_open(s, req->ca, req->profile, &iss, &ca, err) != 0) {
		free(pem_scratch);
		return -1;
	}
	in.subject = req->subject;
	in.sans = extra;
	in.n_sans = req->n_sans;
	in.validity = req->validity;
	in.now = hsmca_now();
	if (hsmca_csr_load(req->csr, req->csr_len, pem_scratch, hsmca_issue_min_rsa(&iss.profile),
			   &csr, err) != 0 ||
	    hsmca_issue_plan(&iss, &csr, &in, &plan, err) != 0)
		goto out;
	/* A token RNG that repeats itself is broken: stop rather than spin. */
	for (i = 0, rc = 1; rc == 1 && i < HSMCA_SERIAL_TRIES; i++) {
		if (hsmca_serial_random(s->token, serial, 20, err) != 0)
			goto out;
		rc = hsmca_records_reserve_serial(iss.records, serial, 20, err);
		if (rc < 0)
			goto out;
	}
	if (rc == 1) {
		hsmca_error_set(err, "the token's random generator returned %d serials already in use; "
				     "refusing to issue (is the token's RNG broken?)", HSMCA_SERIAL_TRIES);
		goto out;
	}
	if (hsmca_issue_tbs(&iss, &csr, &plan, serial, 20, &scratch, &tbs, err) != 0 ||
	    hsmca_issue_lint_fast(&iss, &plan, serial, 20, err) != 0 ||
	    hsmca_issue_lint_full(&iss, &plan, &tbs, false, err) != 0)
		goto out;
	if (hsmca_signed_assemble(iss.key, ca->sigalg, tbs.buf, tbs.len, &cert, err) != 0) {
		const char *d[] = { "ca", ca->name, "reason", err->msg, NULL };

		hsmca_audit_append(iss.audit, "sign", iss.key_uri, "failed", d, NULL);
		goto out;
	}
	if (!hsmca_signed_holds_tbs(cert.buf, cert.len, tbs.buf, tbs.len)) {
		hsmca_error_set(err, "internal: the signed certificate does not hold the linted TBS");
		goto out;
	}
	if (hsmca_cert_check(cert.buf, cert.len, X509_get0_pubkey(ca->x509), NULL, err) != 0 ||
	    hsmca_issue_record(&iss, &csr, &plan, serial, 20, cert.buf, cert.len, false, err) != 0 ||
	    hsmca_records_sync(iss.records, err) != 0)
		goto out;
	out->der = malloc(cert.len);
	if (!out->der) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(out->der, cert.buf, cert.len);
	out->der_len = cert.len;
	memcpy(out->serial, serial, 20);
	out->serial_len = 20;
	out->not_before = plan.not_before;
	out->not_after = plan.not_after;
	snprintf(out->note, sizeof(out->note), "%s", plan.note);
	subject_text(&plan, out->subject, sizeof(out->subject));
	ret = 0;
out:
	free(pem_scratch);
	hsmca_der_free(&scratch);
	hsmca_der_free(&tbs);
	hsmca_der_free(&cert);
	hsmca_issuer_close(&iss);
	hsmca_ca_free(ca);
	return ret;
}
