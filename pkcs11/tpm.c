/* What differs when the module is libtpm2_pkcs11 (docs/tpm.md, "Findings"):
 * its stderr noise, and its habit of answering every TPM-side failure —
 * a dead TPM included — with CKR_GENERAL_ERROR. */
#include "pkcs11/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool hsmca_tpm_module_path(const char *path)
{
	return path && strstr(path, "tpm2_pkcs11") != NULL;
}

void hsmca_tpm_prepare_env(void)
{
	/* Errors only from the module, nothing from the TSS.  A user who set
	 * either variable keeps the value (overwrite = 0). */
	setenv("TPM2_PKCS11_LOG_LEVEL", "0", 0);
	setenv("TSS2_LOG", "all+NONE", 0);
}

const char *hsmca_tpm_tcti(void)
{
	const char *t = getenv("TPM2_PKCS11_TCTI");

	return t && *t ? t : "the TSS default (tpm2-abrmd, then /dev/tpmrm0, then /dev/tpm0)";
}

/* The codes libtpm2_pkcs11 gives when the TPM (or the way to it) failed. */
static bool tpm_failure(CK_RV rv)
{
	return rv == CKR_GENERAL_ERROR || rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED ||
	       rv == CKR_FUNCTION_FAILED || rv == CKR_TOKEN_NOT_PRESENT;
}

int hsmca_p11_error(hsmca_module *m, CK_SESSION_HANDLE probe, hsmca_error *err, CK_RV rv,
		    const char *fmt, ...)
{
	char what[HSMCA_ERROR_MAX / 2];
	CK_BYTE byte;
	bool answers = false;
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!m || !m->is_tpm || !tpm_failure(rv))
		return hsmca_ckr_error(err, rv, "%s", what);
	/* Tell a TPM that is gone from one that refused this one request: after
	 * an I/O failure every later call fails too, so one random byte is a
	 * cheap and harmless probe.  (It cannot hang here: the TPM just
	 * answered, or its connection just broke.) */
	if (probe != CK_INVALID_HANDLE && !atomic_load(&m->tpm_gone)) {
		answers = m->fns->C_GenerateRandom(probe, &byte, 1) == CKR_OK;
		if (!answers)
			atomic_store(&m->tpm_gone, true);
	}
	if (answers)
		snprintf(err->msg, sizeof(err->msg),
			 "%s: the TPM failed the operation although it still answers "
			 "(libtpm2_pkcs11 reports every TPM-side failure with this one code; "
			 "its ERROR line on stderr names the cause) (PKCS#11 %s)",
			 what, hsmca_ckr_name(rv));
	else
		snprintf(err->msg, sizeof(err->msg),
			 "%s: the TPM stopped responding or failed (TCTI %s): check that the TPM "
			 "is up and reachable, then run the command again (PKCS#11 %s)",
			 what, hsmca_tpm_tcti(), hsmca_ckr_name(rv));
	err->code = rv;
	return -1;
}
