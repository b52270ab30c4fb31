/* Sessions on one token: opening by RFC 7512 URI, login, randomness. */
#include "pkcs11/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/uri.h>

static int open_session(hsmca_module *m, const struct hsmca_token_info *ti, hsmca_token **out,
			hsmca_error *err)
{
	hsmca_token *t = calloc(1, sizeof(*t));
	CK_RV rv;

	if (!t)
		return hsmca_error_set(err, "out of memory");
	t->module = m;
	t->fns = hsmca_module_functions(m);
	t->info = *ti;
	rv = t->fns->C_OpenSession(ti->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
				   &t->session);
	if (rv != CKR_OK) {
		free(t);
		return hsmca_p11_error(m, CK_INVALID_HANDLE, err, rv, "open a session on token '%s'",
				       ti->label);
	}
	*out = t;
	return 0;
}

static void describe(const struct hsmca_token_info *ti, char *buf, size_t len)
{
	snprintf(buf, len, "token=%s;manufacturer=%s;serial=%s (slot %lu)", ti->label,
		 ti->manufacturer, ti->serial, (unsigned long)ti->slot);
}

int hsmca_token_open(hsmca_module *m, const char *uri, hsmca_token **out, hsmca_error *err)
{
	struct hsmca_token_info *list = NULL;
	size_t n = 0, i, matches = 0, match = 0;
	P11KitUri *parsed = NULL;
	char candidates[768] = "";
	int ret = -1;

	if (uri && *uri) {
		if (hsmca_uri_check(uri, err) != 0)
			return -1;
		parsed = p11_kit_uri_new();
		if (p11_kit_uri_parse(uri, P11_KIT_URI_FOR_TOKEN, parsed) != P11_KIT_URI_OK) {
			hsmca_error_set(err, "PKCS#11 URI '%s' is malformed", uri);
			goto out;
		}
	}
	if (hsmca_module_tokens(m, &list, &n, err) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		CK_TOKEN_INFO ck;

		if (!list[i].initialized)
			continue;
		if (parsed) {
			if (hsmca_module_functions(m)->C_GetTokenInfo(list[i].slot, &ck) != CKR_OK)
				continue;
			if (!p11_kit_uri_match_token_info(parsed, &ck))
				continue;
		}
		if (matches++ == 0)
			match = i;
		{
			char d[200];
			size_t used = strlen(candidates);

			describe(&list[i], d, sizeof(d));
			snprintf(candidates + used, sizeof(candidates) - used, "%s\n  %s",
				 used ? "" : "", d);
		}
	}
	if (matches == 0) {
		size_t inited = 0;

		for (i = 0; i < n; i++)
			inited += list[i].initialized;
		hsmca_error_set(err, "no initialised token matches '%s' in %s (%zu initialised token%s, "
				     "%zu uninitialised)",
				uri && *uri ? uri : "pkcs11:", hsmca_module_path(m), inited,
				inited == 1 ? "" : "s", n - inited);
		goto out;
	}
	if (matches > 1) {
		hsmca_error_set(err, "%zu tokens match '%s'; name one with token=/serial=:%s", matches,
				uri && *uri ? uri : "pkcs11:", candidates);
		goto out;
	}
	ret = open_session(m, &list[match], out, err);
out:
	if (parsed)
		p11_kit_uri_free(parsed);
	free(list);
	return ret;
}

int hsmca_token_dup(hsmca_token *t, hsmca_token **out, hsmca_error *err)
{
	return open_session(t->module, &t->info, out, err);
}

void hsmca_token_close(hsmca_token *t)
{
	if (!t)
		return;
	if (t->session != CK_INVALID_HANDLE)
		t->fns->C_CloseSession(t->session);
	free(t);
}

const struct hsmca_token_info *hsmca_token_get_info(const hsmca_token *t) { return &t->info; }
hsmca_module *hsmca_token_module(const hsmca_token *t) { return t->module; }

int hsmca_token_login(hsmca_token *t, bool so, const struct hsmca_pin *pin, hsmca_error *err)
{
	CK_TOKEN_INFO info;
	CK_RV rv;

	/* pin == NULL: a token with a protected authentication path (PIN pad,
	 * biometric) takes the PIN on the device itself. */
	rv = t->fns->C_Login(t->session, so ? CKU_SO : CKU_USER,
			     pin ? (CK_UTF8CHAR_PTR)pin->value : NULL, pin ? pin->len : 0);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	if ((rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED) &&
	    t->fns->C_GetTokenInfo(t->info.slot, &info) == CKR_OK) {
		CK_FLAGS locked = so ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED;
		CK_FLAGS final = so ? CKF_SO_PIN_FINAL_TRY : CKF_USER_PIN_FINAL_TRY;
		CK_FLAGS low = so ? CKF_SO_PIN_COUNT_LOW : CKF_USER_PIN_COUNT_LOW;

		if (info.flags & locked)
			return hsmca_ckr_error(err, rv, "log in to token '%s': the %s PIN is now LOCKED",
					       t->info.label, so ? "SO" : "user");
		if (info.flags & final)
			return hsmca_ckr_error(err, rv,
					       "log in to token '%s': wrong %s PIN — one try remains before it locks",
					       t->info.label, so ? "SO" : "user");
		if (info.flags & low)
			return hsmca_ckr_error(err, rv, "log in to token '%s': wrong %s PIN — few tries remain",
					       t->info.label, so ? "SO" : "user");
	}
	return hsmca_token_error(t, err, rv, "log in to token '%s' as %s", t->info.label,
			       so ? "security officer" : "user");
}

int hsmca_token_random(hsmca_token *t, uint8_t *buf, size_t len, hsmca_error *err)
{
	CK_RV rv;

	/* Issuance draws every serial here: see hsmca_key_sign_raw(). */
	if (atomic_load(&t->module->tpm_gone))
		return hsmca_p11_error(t->module, CK_INVALID_HANDLE, err, CKR_GENERAL_ERROR,
				       "draw %zu random bytes from token '%s'", len, t->info.label);
	rv = t->fns->C_GenerateRandom(t->session, buf, len);

	if (rv != CKR_OK)
		return hsmca_token_error(t, err, rv, "draw %zu random bytes from token '%s'", len, t->info.label);
	return 0;
}

void hsmca_uri_escape(char *out, size_t outlen, const uint8_t *in, size_t n, bool all)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0, i;

	for (i = 0; i < n && o + 4 < outlen; i++) {
		int c = in[i];

		if (!all && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			     c == '-' || c == '.' || c == '_' || c == '~')) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

int hsmca_token_uri(const hsmca_token *t, char *buf, size_t len, hsmca_error *err)
{
	char label[100], man[100], serial[60], model[60];

	hsmca_uri_escape(label, sizeof(label), (const uint8_t *)t->info.label, strlen(t->info.label), false);
	hsmca_uri_escape(man, sizeof(man), (const uint8_t *)t->info.manufacturer,
			 strlen(t->info.manufacturer), false);
	hsmca_uri_escape(serial, sizeof(serial), (const uint8_t *)t->info.serial, strlen(t->info.serial),
			 false);
	hsmca_uri_escape(model, sizeof(model), (const uint8_t *)t->info.model, strlen(t->info.model), false);
	if ((size_t)snprintf(buf, len, "pkcs11:model=%s;manufacturer=%s;serial=%s;token=%s", model, man,
			     serial, label) >= len)
		return hsmca_error_set(err, "token URI too long");
	return 0;
}
