/* Keys: generation with verified non-extractable attributes, lookup by
 * label or RFC 7512 URI, listing, destruction, public-key export. */
#include "pkcs11/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <p11-kit/uri.h>

#include "common/util.h"

static const uint8_t oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
static const uint8_t oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
static const uint8_t oid_ed25519[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
/* Some tokens report Ed25519 by curve name (PrintableString "edwards25519"). */
static const uint8_t name_ed25519[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9' };

static const struct {
	const char *name;
	enum hsmca_key_type type;
} key_types[] = {
	{ "ec-p256", HSMCA_KEY_EC_P256 }, { "ec-p384", HSMCA_KEY_EC_P384 },
	{ "ed25519", HSMCA_KEY_ED25519 }, { "rsa-3072", HSMCA_KEY_RSA_3072 },
	{ "rsa-4096", HSMCA_KEY_RSA_4096 },
};

int hsmca_key_type_parse(const char *s, enum hsmca_key_type *out, hsmca_error *err)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
		if (s && strcmp(s, key_types[i].name) == 0) {
			*out = key_types[i].type;
			return 0;
		}
	}
	return hsmca_error_set(err, "unknown key type '%s' (expected ec-p256, ec-p384, ed25519, "
				    "rsa-3072 or rsa-4096)", s ? s : "");
}

const char *hsmca_key_type_name(enum hsmca_key_type t)
{
	switch (t) {
	case HSMCA_KEY_EC_P256: return "ec-p256";
	case HSMCA_KEY_EC_P384: return "ec-p384";
	case HSMCA_KEY_ED25519: return "ed25519";
	case HSMCA_KEY_RSA_3072: return "rsa-3072";
	case HSMCA_KEY_RSA_4096: return "rsa-4096";
	case HSMCA_KEY_RSA_2048: return "rsa-2048";
	default: return "unknown";
	}
}

/* ---- object search ----------------------------------------------------- */

#define FIND_MAX 64

static int find_objects(hsmca_token *t, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out,
			CK_ULONG *count, hsmca_error *err)
{
	CK_RV rv;

	rv = t->fns->C_FindObjectsInit(t->session, tmpl, n);
	if (rv != CKR_OK)
		return hsmca_token_error(t, err, rv, "search objects on token '%s'", t->info.label);
	rv = t->fns->C_FindObjects(t->session, out, FIND_MAX, count);
	t->fns->C_FindObjectsFinal(t->session);
	if (rv != CKR_OK)
		return hsmca_token_error(t, err, rv, "search objects on token '%s'", t->info.label);
	return 0;
}

/* Read one attribute into buf; returns its length, or -1 if unavailable. */
static long get_attr(hsmca_token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *buf,
		     size_t buflen)
{
	CK_ATTRIBUTE a = { type, buf, buflen };
	CK_RV rv = t->fns->C_GetAttributeValue(t->session, h, &a, 1);

	if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return -1;
	return (long)a.ulValueLen;
}

static bool get_bool(hsmca_token *t, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, bool *present)
{
	CK_BBOOL v = CK_FALSE;
	long n = get_attr(t, h, type, &v, sizeof(v));

	if (present)
		*present = n == (long)sizeof(v);
	return n == (long)sizeof(v) && v == CK_TRUE;
}

int hsmca_key_label_exists(hsmca_token *t, const char *label, bool *exists, hsmca_error *err)
{
	CK_ATTRIBUTE tmpl[] = { { CKA_LABEL, (void *)label, strlen(label) } };
	CK_OBJECT_HANDLE found[FIND_MAX];
	CK_ULONG count = 0;

	if (find_objects(t, tmpl, 1, found, &count, err) != 0)
		return -1;
	*exists = count > 0;
	return 0;
}

static enum hsmca_key_type classify(hsmca_token *t, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub)
{
	CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
	uint8_t params[64];
	long n;

	if (get_attr(t, priv, CKA_KEY_TYPE, &kt, sizeof(kt)) < 0)
		return HSMCA_KEY_UNKNOWN;
	if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
		n = get_attr(t, priv, CKA_EC_PARAMS, params, sizeof(params));
		if (n < 0 && pub != CK_INVALID_HANDLE)
			n = get_attr(t, pub, CKA_EC_PARAMS, params, sizeof(params));
		if (n == sizeof(oid_p256) && memcmp(params, oid_p256, (size_t)n) == 0)
			return HSMCA_KEY_EC_P256;
		if (n == sizeof(oid_p384) && memcmp(params, oid_p384, (size_t)n) == 0)
			return HSMCA_KEY_EC_P384;
		if ((n == sizeof(oid_ed25519) && memcmp(params, oid_ed25519, (size_t)n) == 0) ||
		    (n == sizeof(name_ed25519) && memcmp(params, name_ed25519, (size_t)n) == 0))
			return HSMCA_KEY_ED25519;
		return HSMCA_KEY_UNKNOWN;
	}
	if (kt == CKK_RSA) {
		uint8_t mod[1024];

		n = get_attr(t, priv, CKA_MODULUS, mod, sizeof(mod));
		if (n < 0 && pub != CK_INVALID_HANDLE)
			n = get_attr(t, pub, CKA_MODULUS, mod, sizeof(mod));
		if (n == 256)
			return HSMCA_KEY_RSA_2048;
		if (n == 384)
			return HSMCA_KEY_RSA_3072;
		if (n == 512)
			return HSMCA_KEY_RSA_4096;
	}
	return HSMCA_KEY_UNKNOWN;
}

int hsmca_key_read_info(struct hsmca_key *k, hsmca_error *err)
{
	hsmca_token *t = k->token;
	struct hsmca_key_info *i = &k->info;
	long n;

	memset(i, 0, sizeof(*i));
	n = get_attr(t, k->priv, CKA_LABEL, i->label, sizeof(i->label) - 1);
	i->label[n > 0 ? n : 0] = '\0';
	n = get_attr(t, k->priv, CKA_ID, i->id, sizeof(i->id));
	i->id_len = n > 0 ? (size_t)n : 0;
	i->type = classify(t, k->priv, k->pub);
	i->sensitive = get_bool(t, k->priv, CKA_SENSITIVE, NULL);
	i->extractable = get_bool(t, k->priv, CKA_EXTRACTABLE, NULL);
	i->always_sensitive = get_bool(t, k->priv, CKA_ALWAYS_SENSITIVE, NULL);
	i->never_extractable = get_bool(t, k->priv, CKA_NEVER_EXTRACTABLE, NULL);
	i->local = get_bool(t, k->priv, CKA_LOCAL, NULL);
	i->sign = get_bool(t, k->priv, CKA_SIGN, NULL);
	i->decrypt = get_bool(t, k->priv, CKA_DECRYPT, NULL);
	i->unwrap = get_bool(t, k->priv, CKA_UNWRAP, NULL);
	i->derive = get_bool(t, k->priv, CKA_DERIVE, NULL);
	i->private_ = get_bool(t, k->priv, CKA_PRIVATE, NULL);
	i->token = get_bool(t, k->priv, CKA_TOKEN, NULL);
	/* Generated in this TPM: its private part exists only wrapped by the
	 * TPM's storage key (an imported key would be TPM-held too, but copies
	 * of it may exist elsewhere, so it does not count). */
	i->tpm_bound = hsmca_module_is_tpm(t->module) && i->local;
	(void)err;
	return 0;
}

/* ---- public key ------------------------------------------------------- */

/* CKA_EC_POINT is a DER OCTET STRING per the spec; some tokens return the
 * raw point.  Tell them apart by the expected raw length. */
static const uint8_t *ec_point(const uint8_t *p, size_t n, size_t raw_len, size_t *out_len)
{
	if (n == raw_len) {
		*out_len = n;
		return p;
	}
	if (n == raw_len + 2 && p[0] == 0x04 && p[1] == raw_len) {
		*out_len = raw_len;
		return p + 2;
	}
	if (n == raw_len + 3 && p[0] == 0x04 && p[1] == 0x81 && p[2] == raw_len) {
		*out_len = raw_len;
		return p + 3;
	}
	return NULL;
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY *pkey = NULL;

	if (ctx && params && EVP_PKEY_fromdata_init(ctx) > 0)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

int hsmca_key_load_public(struct hsmca_key *k, hsmca_error *err)
{
	hsmca_token *t = k->token;
	CK_OBJECT_HANDLE src = k->pub != CK_INVALID_HANDLE ? k->pub : k->priv;
	uint8_t buf[1100];
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *nbn = NULL, *ebn = NULL;
	unsigned char *der = NULL;
	long n;
	int len, ret = -1;

	switch (k->info.type) {
	case HSMCA_KEY_EC_P256:
	case HSMCA_KEY_EC_P384: {
		size_t raw = k->info.type == HSMCA_KEY_EC_P256 ? 65 : 97, plen = 0;
		const uint8_t *pt;

		n = get_attr(t, src, CKA_EC_POINT, buf, sizeof(buf));
		pt = n > 0 ? ec_point(buf, (size_t)n, raw, &plen) : NULL;
		if (!pt) {
			hsmca_error_set(err, "key '%s': cannot read its EC public point", k->info.label);
			goto out;
		}
		bld = OSSL_PARAM_BLD_new();
		if (!bld ||
		    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						     k->info.type == HSMCA_KEY_EC_P256 ? "prime256v1"
										       : "secp384r1",
						     0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, plen))
			goto ossl;
		pkey = pkey_from_params("EC", bld);
		break;
	}
	case HSMCA_KEY_ED25519: {
		size_t plen = 0;
		const uint8_t *pt;

		n = get_attr(t, src, CKA_EC_POINT, buf, sizeof(buf));
		pt = n > 0 ? ec_point(buf, (size_t)n, 32, &plen) : NULL;
		if (!pt) {
			hsmca_error_set(err, "key '%s': cannot read its Ed25519 public key", k->info.label);
			goto out;
		}
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pt, plen);
		break;
	}
	case HSMCA_KEY_RSA_2048:
	case HSMCA_KEY_RSA_3072:
	case HSMCA_KEY_RSA_4096: {
		uint8_t e[16];
		long elen;

		n = get_attr(t, src, CKA_MODULUS, buf, sizeof(buf));
		elen = get_attr(t, src, CKA_PUBLIC_EXPONENT, e, sizeof(e));
		if (n <= 0 || elen <= 0) {
			hsmca_error_set(err, "key '%s': cannot read its RSA modulus and exponent",
					k->info.label);
			goto out;
		}
		nbn = BN_bin2bn(buf, (int)n, NULL);
		ebn = BN_bin2bn(e, (int)elen, NULL);
		bld = OSSL_PARAM_BLD_new();
		if (!nbn || !ebn || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, nbn) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ebn))
			goto ossl;
		pkey = pkey_from_params("RSA", bld);
		break;
	}
	default:
		hsmca_error_set(err, "key '%s' has a type hsmca does not support", k->info.label);
		goto out;
	}
	if (!pkey)
		goto ossl;
	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0)
		goto ossl;
	k->spki = der;
	k->spki_len = (size_t)len;
	k->pkey = pkey;
	pkey = NULL;
	ret = 0;
	goto out;
ossl:
	hsmca_error_openssl(err, "key '%s': cannot build its public key", k->info.label);
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_BLD_free(bld);
	BN_free(nbn);
	BN_free(ebn);
	return ret;
}

static CK_OBJECT_HANDLE find_public(hsmca_token *t, const uint8_t *id, size_t id_len)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_ID, (void *)id, id_len } };
	CK_OBJECT_HANDLE found[FIND_MAX];
	CK_ULONG count = 0;

	if (id_len == 0 || find_objects(t, tmpl, 2, found, &count, NULL) != 0 || count != 1)
		return CK_INVALID_HANDLE;
	return found[0];
}

static int key_new(hsmca_token *t, CK_OBJECT_HANDLE priv, bool load_public, hsmca_key **out,
		   hsmca_error *err)
{
	hsmca_key *k = calloc(1, sizeof(*k));

	if (!k)
		return hsmca_error_set(err, "out of memory");
	k->token = t;
	k->priv = priv;
	k->pub = CK_INVALID_HANDLE;
	hsmca_key_read_info(k, err);
	k->pub = find_public(t, k->info.id, k->info.id_len);
	if (k->info.type == HSMCA_KEY_UNKNOWN)
		k->info.type = classify(t, priv, k->pub);
	if (load_public && hsmca_key_load_public(k, err) != 0) {
		hsmca_key_free(k);
		return -1;
	}
	*out = k;
	return 0;
}

void hsmca_key_free(hsmca_key *k)
{
	if (!k)
		return;
	OPENSSL_free(k->spki);
	EVP_PKEY_free(k->pkey);
	free(k);
}

const struct hsmca_key_info *hsmca_key_get_info(const hsmca_key *k) { return &k->info; }

void hsmca_key_spki(const hsmca_key *k, const uint8_t **der, size_t *len)
{
	*der = k->spki;
	*len = k->spki_len;
}

EVP_PKEY *hsmca_key_pkey(const hsmca_key *k) { return k->pkey; }

int hsmca_key_rebind(const hsmca_key *k, hsmca_token *session, hsmca_key **out, hsmca_error *err)
{
	hsmca_key *c = calloc(1, sizeof(*c));

	if (!c)
		return hsmca_error_set(err, "out of memory");
	*c = *k;
	c->token = session;
	c->spki = OPENSSL_memdup(k->spki, k->spki_len);
	if (!c->spki) {
		free(c);
		return hsmca_error_set(err, "out of memory");
	}
	EVP_PKEY_up_ref(k->pkey);
	*out = c;
	return 0;
}

int hsmca_key_uri(const hsmca_key *k, char *buf, size_t len, hsmca_error *err)
{
	char tok[400], label[400], id[200];
	size_t used;

	if (hsmca_token_uri(k->token, tok, sizeof(tok), err) != 0)
		return -1;
	hsmca_uri_escape(label, sizeof(label), (const uint8_t *)k->info.label, strlen(k->info.label),
			 false);
	hsmca_uri_escape(id, sizeof(id), k->info.id, k->info.id_len, true);
	used = (size_t)snprintf(buf, len, "%s;object=%s;id=%s;type=private", tok, label, id);
	if (used >= len)
		return hsmca_error_set(err, "key URI too long");
	return 0;
}

/* ---- lookup ------------------------------------------------------------ */

int hsmca_key_find(hsmca_token *t, const char *label_or_uri, hsmca_key **out, hsmca_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[4];
	CK_ULONG nt = 0, count = 0, i;
	CK_OBJECT_HANDLE found[FIND_MAX];
	P11KitUri *uri = NULL;
	char searched[600];
	int ret = -1;

	if (!label_or_uri || !*label_or_uri)
		return hsmca_error_set(err, "no key label or URI given");
	if (strncmp(label_or_uri, "pkcs11:", 7) == 0) {
		CK_ATTRIBUTE *a;
		CK_TOKEN_INFO ti;

		if (hsmca_uri_check(label_or_uri, err) != 0)
			return -1;
		if (strchr(label_or_uri, '?'))
			return hsmca_error_set(err, "key URI '%s': module-path, module-name and pin-source "
						    "choose the token, not the key; give them in --token/--module/"
						    "--pin-source or the state directory's configuration",
					       label_or_uri);
		uri = p11_kit_uri_new();
		if (p11_kit_uri_parse(label_or_uri, P11_KIT_URI_FOR_ANY, uri) != P11_KIT_URI_OK) {
			hsmca_error_set(err, "PKCS#11 URI '%s' is malformed", label_or_uri);
			goto out;
		}
		if (t->fns->C_GetTokenInfo(t->info.slot, &ti) == CKR_OK &&
		    !p11_kit_uri_match_token_info(uri, &ti)) {
			hsmca_error_set(err, "key URI '%s' names another token than the open one ('%s')",
					label_or_uri, t->info.label);
			goto out;
		}
		a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
		if (a && (a->ulValueLen != sizeof(CK_OBJECT_CLASS) ||
			  *(CK_OBJECT_CLASS *)a->pValue != CKO_PRIVATE_KEY)) {
			hsmca_error_set(err, "key URI '%s' must name a private key (type=private)",
					label_or_uri);
			goto out;
		}
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		if ((a = p11_kit_uri_get_attribute(uri, CKA_LABEL)))
			tmpl[nt++] = *a;
		if ((a = p11_kit_uri_get_attribute(uri, CKA_ID)))
			tmpl[nt++] = *a;
		snprintf(searched, sizeof(searched), "%s", label_or_uri);
	} else {
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
		tmpl[nt++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label_or_uri, strlen(label_or_uri) };
		snprintf(searched, sizeof(searched), "label '%s'", label_or_uri);
	}
	if (find_objects(t, tmpl, nt, found, &count, err) != 0)
		goto out;
	if (count == 0) {
		hsmca_error_set(err, "no private key matches %s on token '%s'", searched, t->info.label);
		goto out;
	}
	if (count > 1) {
		char list[HSMCA_ERROR_MAX / 2] = "";

		for (i = 0; i < count; i++) {
			hsmca_key *c = NULL;
			char idhex[2 * 64 + 1];
			size_t used = strlen(list);

			if (key_new(t, found[i], false, &c, NULL) != 0)
				continue;
			hsmca_hex(c->info.id, c->info.id_len, idhex);
			snprintf(list + used, sizeof(list) - used, "\n  object=%s;id=%s (%s)", c->info.label,
				 idhex, hsmca_key_type_name(c->info.type));
			hsmca_key_free(c);
		}
		hsmca_error_set(err, "%lu private keys match %s; name one by id:%s", (unsigned long)count,
				searched, list);
		goto out;
	}
	ret = key_new(t, found[0], true, out, err);
out:
	if (uri)
		p11_kit_uri_free(uri);
	return ret;
}

int hsmca_key_list(hsmca_token *t, struct hsmca_key_info **out, size_t *n, hsmca_error *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE found[FIND_MAX];
	CK_ULONG count = 0, i;
	struct hsmca_key_info *list;

	if (find_objects(t, tmpl, 1, found, &count, err) != 0)
		return -1;
	list = calloc(count ? count : 1, sizeof(*list));
	if (!list)
		return hsmca_error_set(err, "out of memory");
	for (i = 0; i < count; i++) {
		hsmca_key *k = NULL;

		if (key_new(t, found[i], false, &k, NULL) == 0) {
			list[i] = k->info;
			hsmca_key_free(k);
		}
	}
	*out = list;
	*n = count;
	return 0;
}

int hsmca_key_destroy(hsmca_key *k, hsmca_error *err)
{
	CK_RV rv;

	rv = k->token->fns->C_DestroyObject(k->token->session, k->priv);
	if (rv != CKR_OK)
		return hsmca_token_error(k->token, err, rv, "destroy private key '%s'", k->info.label);
	k->priv = CK_INVALID_HANDLE;
	if (k->pub != CK_INVALID_HANDLE) {
		rv = k->token->fns->C_DestroyObject(k->token->session, k->pub);
		if (rv != CKR_OK)
			return hsmca_token_error(k->token, err, rv, "destroy public key '%s' (its private key is gone)",
					       k->info.label);
		k->pub = CK_INVALID_HANDLE;
	}
	return 0;
}

int hsmca_key_destroy_label(hsmca_token *t, const char *label, size_t *n_destroyed,
			    hsmca_error *err)
{
	CK_ATTRIBUTE tmpl[] = { { CKA_LABEL, (void *)label, strlen(label) } };
	CK_OBJECT_HANDLE found[FIND_MAX], byid[FIND_MAX];
	CK_ULONG count = 0, nid, i, j;
	size_t done = 0;
	CK_RV rv;

	if (find_objects(t, tmpl, 1, found, &count, err) != 0)
		return -1;
	/* Key objects of the same pair carry one CKA_ID (hsmca_key_generate
	 * sets label and ID on both halves; a token may have dropped a label). */
	for (i = 0; i < count; i++) {
		uint8_t id[64];
		long idlen = get_attr(t, found[i], CKA_ID, id, sizeof(id));
		CK_ATTRIBUTE q[] = { { CKA_ID, id, idlen > 0 ? (CK_ULONG)idlen : 0 } };

		if (idlen <= 0 || find_objects(t, q, 1, byid, &nid, err) != 0)
			continue;
		for (j = 0; j < nid; j++) {
			CK_ULONG k;
			bool seen = false;

			for (k = 0; k < count; k++)
				seen = seen || found[k] == byid[j];
			if (!seen && count < FIND_MAX)
				found[count++] = byid[j];
		}
	}
	for (i = 0; i < count; i++) {
		rv = t->fns->C_DestroyObject(t->session, found[i]);
		if (rv != CKR_OK && rv != CKR_OBJECT_HANDLE_INVALID)
			return hsmca_token_error(t, err, rv, "destroy an incomplete object labelled "
							     "'%s' on token '%s'", label,
						 t->info.label);
		done++;
	}
	if (n_destroyed)
		*n_destroyed = done;
	return 0;
}

/* ---- generation -------------------------------------------------------- */

static int check_mechanism(hsmca_token *t, enum hsmca_key_type type, CK_MECHANISM_TYPE mech,
			   hsmca_error *err)
{
	CK_MECHANISM_INFO mi;
	CK_RV rv = t->fns->C_GetMechanismInfo(t->info.slot, mech, &mi);
	CK_ULONG need = 0;
	bool tpm = hsmca_module_is_tpm(t->module);

	if (rv == CKR_MECHANISM_INVALID)
		return hsmca_error_set(err, "this %s does not support %s keys (no key-pair generation "
					    "mechanism for it); nothing was created",
				       tpm ? "TPM" : "token", hsmca_key_type_name(type));
	if (rv != CKR_OK)
		return hsmca_token_error(t, err, rv, "query the token's %s support", hsmca_key_type_name(type));
	if (!(mi.flags & CKF_GENERATE_KEY_PAIR))
		return hsmca_error_set(err, "this %s cannot generate %s key pairs; nothing was created",
				       tpm ? "TPM" : "token", hsmca_key_type_name(type));
	switch (type) {
	case HSMCA_KEY_RSA_3072: need = 3072; break;
	case HSMCA_KEY_RSA_4096: need = 4096; break;
	case HSMCA_KEY_EC_P384: need = 384; break;
	case HSMCA_KEY_EC_P256: need = 256; break;
	default: break;
	}
	/* Some modules report EC sizes in bytes; only trust a clear bit-size maximum. */
	if (need && mi.ulMaxKeySize >= 256 && mi.ulMaxKeySize < need)
		return hsmca_error_set(err, "this %s does not support %s keys (largest key it makes: "
					    "%lu bits); nothing was created",
				       tpm ? "TPM" : "token", hsmca_key_type_name(type),
				       (unsigned long)mi.ulMaxKeySize);
	return 0;
}

/* What a token answers to a key type or size it cannot make. */
static bool unsupported(CK_RV rv)
{
	return rv == CKR_MECHANISM_INVALID || rv == CKR_KEY_SIZE_RANGE ||
	       rv == CKR_CURVE_NOT_SUPPORTED || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	       rv == CKR_DOMAIN_PARAMS_INVALID || rv == CKR_TEMPLATE_INCONSISTENT;
}

static int verify_generated(hsmca_key *k, hsmca_error *err)
{
	const struct hsmca_key_info *i = &k->info;
	bool tpm = i->tpm_bound;

	if (!i->always_sensitive)
		return hsmca_error_set(err, "CKA_ALWAYS_SENSITIVE is not TRUE");
	if (!i->never_extractable)
		return hsmca_error_set(err, "CKA_NEVER_EXTRACTABLE is not TRUE");
	if (!i->local)
		return hsmca_error_set(err, "CKA_LOCAL is not TRUE (the key was not generated in the token)");
	if (!tpm && !i->sensitive)
		return hsmca_error_set(err, "CKA_SENSITIVE is not TRUE");
	if (!tpm && i->extractable)
		return hsmca_error_set(err, "CKA_EXTRACTABLE is not FALSE");
	if (!i->private_)
		return hsmca_error_set(err, "CKA_PRIVATE is not TRUE");
	if (!i->token)
		return hsmca_error_set(err, "CKA_TOKEN is not TRUE");
	if (!i->sign)
		return hsmca_error_set(err, "CKA_SIGN is not TRUE");
	return 0;
}

int hsmca_key_generate(hsmca_token *t, enum hsmca_key_type type, const char *label,
		       hsmca_key **out, hsmca_error *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 0;
	uint8_t exp[] = { 0x01, 0x00, 0x01 };
	uint8_t id[16];
	CK_MECHANISM mech = { 0, NULL, 0 };
	const uint8_t *params = NULL;
	size_t params_len = 0;
	CK_ATTRIBUTE pub[12], priv[12];
	CK_ULONG npub = 0, npriv = 0, npriv_base, npub_base;
	CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
	bool exists = false, tpm = hsmca_module_is_tpm(t->module);
	hsmca_key *k = NULL;
	CK_RV rv;

	if (!label || !*label || strlen(label) > 128)
		return hsmca_error_set(err, "key label must be 1 to 128 bytes");
	switch (type) {
	case HSMCA_KEY_EC_P256: mech.mechanism = CKM_EC_KEY_PAIR_GEN; params = oid_p256; params_len = sizeof(oid_p256); break;
	case HSMCA_KEY_EC_P384: mech.mechanism = CKM_EC_KEY_PAIR_GEN; params = oid_p384; params_len = sizeof(oid_p384); break;
	case HSMCA_KEY_ED25519: mech.mechanism = CKM_EC_EDWARDS_KEY_PAIR_GEN; params = oid_ed25519; params_len = sizeof(oid_ed25519); break;
	case HSMCA_KEY_RSA_3072: mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN; bits = 3072; break;
	case HSMCA_KEY_RSA_4096: mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN; bits = 4096; break;
	default: return hsmca_error_set(err, "hsmca does not generate %s keys", hsmca_key_type_name(type));
	}
	/* libtpm2_pkcs11 has no EdDSA at all; asking for the mechanism would only
	 * make it print an ERROR line.  The RSA size limit is the TPM's own and
	 * comes from C_GetMechanismInfo in check_mechanism(). */
	if (tpm && type == HSMCA_KEY_ED25519)
		return hsmca_error_set(err, "this TPM does not support ed25519 keys (libtpm2_pkcs11 "
					    "has no EdDSA); nothing was created");
	if (check_mechanism(t, type, mech.mechanism, err) != 0)
		return -1;
	if (hsmca_key_label_exists(t, label, &exists, err) != 0)
		return -1;
	if (exists)
		return hsmca_error_set(err, "a key labelled '%s' already exists on token '%s'; "
					    "choose another label", label, t->info.label);
	if (hsmca_token_random(t, id, sizeof(id), err) != 0)
		return -1;

	pub[npub++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &no, sizeof(no) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_VERIFY, &yes, sizeof(yes) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	pub[npub++] = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
	if (params)
		pub[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, (void *)params, params_len };
	else {
		pub[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exp, sizeof(exp) };
	}
	/* The public half only verifies: no encrypt/wrap (SoftHSM enables both). */
	npub_base = npub;
	if (!tpm) {
		pub[npub++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &no, sizeof(no) };
		pub[npub++] = (CK_ATTRIBUTE){ CKA_WRAP, &no, sizeof(no) };
	}
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_TOKEN, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_PRIVATE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_SENSITIVE, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_EXTRACTABLE, &no, sizeof(no) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_SIGN, &yes, sizeof(yes) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_ID, id, sizeof(id) };
	npriv_base = npriv;
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_UNWRAP, &no, sizeof(no) };
	priv[npriv++] = (CK_ATTRIBUTE){ CKA_DERIVE, &no, sizeof(no) };
	/* libtpm2_pkcs11 fails CKA_DECRYPT=FALSE with CKR_GENERAL_ERROR ("User
	 * specified and TPM specified attr mismatch": its TPM keys always carry
	 * decrypt) but takes UNWRAP/DERIVE=FALSE (docs/tpm.md, Findings).  The
	 * key shows decrypt=TRUE; it still never leaves the TPM. */
	if (!tpm)
		priv[npriv++] = (CK_ATTRIBUTE){ CKA_DECRYPT, &no, sizeof(no) };

	rv = t->fns->C_GenerateKeyPair(t->session, &mech, pub, npub, priv, npriv, &hpub, &hpriv);
	if (!tpm && (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_VALUE_INVALID ||
		     rv == CKR_TEMPLATE_INCONSISTENT)) {
		/* The token refuses one of the usage FALSEs: generate without them; what
		 * it set instead is read back and shown by `key show`. */
		rv = t->fns->C_GenerateKeyPair(t->session, &mech, pub, npub_base, priv, npriv_base,
					       &hpub, &hpriv);
	}
	if (rv != CKR_OK && tpm && unsupported(rv))
		return hsmca_ckr_error(err, rv, "this TPM does not support %s keys (it refused to "
						"generate '%s'); nothing was created",
				       hsmca_key_type_name(type), label);
	if (rv != CKR_OK)
		return hsmca_token_error(t, err, rv, "generate %s key '%s' on token '%s'",
					 hsmca_key_type_name(type), label, t->info.label);
	if (key_new(t, hpriv, true, &k, err) != 0)
		goto destroy;
	k->pub = hpub;
	if (verify_generated(k, err) != 0) {
		hsmca_error_prefix(err, "the token generated key '%s' without the required protection "
					"(destroyed it)", label);
		goto destroy;
	}
	*out = k;
	return 0;
destroy:
	t->fns->C_DestroyObject(t->session, hpriv);
	t->fns->C_DestroyObject(t->session, hpub);
	hsmca_key_free(k);
	if (err && !err->msg[0])
		hsmca_error_set(err, "generate key '%s' failed", label);
	return -1;
}
