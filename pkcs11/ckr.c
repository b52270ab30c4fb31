/* CK_RV names and reasons: each code is mapped once, here. */
#include "pkcs11/token.h"

#include <stdarg.h>
#include <stdio.h>

#define RV(x) { x, #x }

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
	RV(CKR_OK), RV(CKR_CANCEL), RV(CKR_HOST_MEMORY), RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR), RV(CKR_FUNCTION_FAILED), RV(CKR_ARGUMENTS_BAD),
	RV(CKR_NO_EVENT), RV(CKR_NEED_TO_CREATE_THREADS), RV(CKR_CANT_LOCK),
	RV(CKR_ATTRIBUTE_READ_ONLY), RV(CKR_ATTRIBUTE_SENSITIVE), RV(CKR_ATTRIBUTE_TYPE_INVALID),
	RV(CKR_ATTRIBUTE_VALUE_INVALID), RV(CKR_DATA_INVALID), RV(CKR_DATA_LEN_RANGE),
	RV(CKR_DEVICE_ERROR), RV(CKR_DEVICE_MEMORY), RV(CKR_DEVICE_REMOVED),
	RV(CKR_ENCRYPTED_DATA_INVALID), RV(CKR_FUNCTION_CANCELED), RV(CKR_FUNCTION_NOT_PARALLEL),
	RV(CKR_FUNCTION_NOT_SUPPORTED), RV(CKR_KEY_HANDLE_INVALID), RV(CKR_KEY_SIZE_RANGE),
	RV(CKR_KEY_TYPE_INCONSISTENT), RV(CKR_KEY_NOT_NEEDED), RV(CKR_KEY_CHANGED),
	RV(CKR_KEY_NEEDED), RV(CKR_KEY_INDIGESTIBLE), RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
	RV(CKR_KEY_NOT_WRAPPABLE), RV(CKR_KEY_UNEXTRACTABLE), RV(CKR_MECHANISM_INVALID),
	RV(CKR_MECHANISM_PARAM_INVALID), RV(CKR_OBJECT_HANDLE_INVALID),
	RV(CKR_OPERATION_ACTIVE), RV(CKR_OPERATION_NOT_INITIALIZED), RV(CKR_PIN_INCORRECT),
	RV(CKR_PIN_INVALID), RV(CKR_PIN_LEN_RANGE), RV(CKR_PIN_EXPIRED), RV(CKR_PIN_LOCKED),
	RV(CKR_SESSION_CLOSED), RV(CKR_SESSION_COUNT), RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED), RV(CKR_SESSION_READ_ONLY), RV(CKR_SESSION_EXISTS),
	RV(CKR_SESSION_READ_ONLY_EXISTS), RV(CKR_SESSION_READ_WRITE_SO_EXISTS),
	RV(CKR_SIGNATURE_INVALID), RV(CKR_SIGNATURE_LEN_RANGE), RV(CKR_TEMPLATE_INCOMPLETE),
	RV(CKR_TEMPLATE_INCONSISTENT), RV(CKR_TOKEN_NOT_PRESENT), RV(CKR_TOKEN_NOT_RECOGNIZED),
	RV(CKR_TOKEN_WRITE_PROTECTED), RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
	RV(CKR_USER_ALREADY_LOGGED_IN), RV(CKR_USER_NOT_LOGGED_IN), RV(CKR_USER_PIN_NOT_INITIALIZED),
	RV(CKR_USER_TYPE_INVALID), RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	RV(CKR_USER_TOO_MANY_TYPES), RV(CKR_WRAPPED_KEY_INVALID), RV(CKR_WRAPPED_KEY_LEN_RANGE),
	RV(CKR_WRAPPING_KEY_HANDLE_INVALID), RV(CKR_WRAPPING_KEY_SIZE_RANGE),
	RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT), RV(CKR_RANDOM_SEED_NOT_SUPPORTED),
	RV(CKR_RANDOM_NO_RNG), RV(CKR_DOMAIN_PARAMS_INVALID), RV(CKR_BUFFER_TOO_SMALL),
	RV(CKR_SAVED_STATE_INVALID), RV(CKR_INFORMATION_SENSITIVE), RV(CKR_STATE_UNSAVEABLE),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED), RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	RV(CKR_MUTEX_BAD), RV(CKR_MUTEX_NOT_LOCKED), RV(CKR_FUNCTION_REJECTED),
	RV(CKR_CURVE_NOT_SUPPORTED),
};

const char *hsmca_ckr_name(CK_RV rv)
{
	size_t i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	return "CKR_VENDOR_DEFINED";
}

static const char *ckr_reason(CK_RV rv)
{
	switch (rv) {
	case CKR_PIN_INCORRECT: return "the token refused the PIN";
	case CKR_PIN_LOCKED: return "the PIN is locked";
	case CKR_PIN_LEN_RANGE: return "the PIN has a length the token does not accept";
	case CKR_USER_NOT_LOGGED_IN: return "not logged in";
	case CKR_USER_PIN_NOT_INITIALIZED: return "the token's user PIN is not set";
	case CKR_TOKEN_NOT_PRESENT: return "no token in the slot";
	case CKR_DEVICE_REMOVED: return "the device was removed";
	case CKR_DEVICE_ERROR: return "the device reported an error";
	case CKR_ATTRIBUTE_SENSITIVE: return "the attribute is sensitive and cannot be read";
	case CKR_KEY_UNEXTRACTABLE: return "the key is not extractable";
	case CKR_MECHANISM_INVALID: return "the token does not support this mechanism";
	case CKR_KEY_SIZE_RANGE: return "the token does not support this key size";
	case CKR_CURVE_NOT_SUPPORTED: return "the token does not support this curve";
	case CKR_TEMPLATE_INCONSISTENT: return "the token rejected the key template";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "the token rejected an attribute value";
	case CKR_TOKEN_WRITE_PROTECTED: return "the token is write-protected";
	case CKR_DEVICE_MEMORY: return "the token is out of memory";
	case CKR_HOST_MEMORY: return "out of memory";
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED: return "the session is no longer valid";
	default: return "the token refused the operation";
	}
}

int hsmca_ckr_error(hsmca_error *err, CK_RV rv, const char *fmt, ...)
{
	char what[HSMCA_ERROR_MAX / 2];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err->msg, sizeof(err->msg), "%s: %s (PKCS#11 %s)", what, ckr_reason(rv),
		 hsmca_ckr_name(rv));
	err->code = rv;
	return -1;
}
