/* Loading exactly one PKCS#11 module, by path or by p11-kit name. */
#include "pkcs11/internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>

#include "common/secure_path.h"

#ifndef HSMCA_P11_MODULE_PATH
#define HSMCA_P11_MODULE_PATH "/usr/lib/x86_64-linux-gnu/pkcs11"
#endif
#define HSMCA_P11_CONFIG_DIRS "/etc/pkcs11/modules:/usr/share/p11-kit/modules"

void hsmca_p11_string(char *out, size_t outlen, const CK_UTF8CHAR *in, size_t inlen)
{
	size_t n = inlen < outlen - 1 ? inlen : outlen - 1;

	memcpy(out, in, n);
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\0'))
		n--;
	out[n] = '\0';
}

/* Find `module:` in <dir>/<name>.module; resolve a relative value against
 * p11-kit's module directory.  Returns 1 found, 0 not found, -1 error. */
static int lookup_config(const char *dir, const char *name, char *out, size_t outlen,
			 hsmca_error *err)
{
	char path[PATH_MAX], line[1024];
	FILE *f;
	int found = 0;

	if (snprintf(path, sizeof(path), "%s/%s.module", dir, name) >= (int)sizeof(path))
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *v, *e;

		if (strncmp(line, "module:", 7) != 0)
			continue;
		v = line + 7;
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strcspn(v, "\r\n");
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*e = '\0';
		if (!*v)
			break;
		if (v[0] == '/')
			found = snprintf(out, outlen, "%s", v) < (int)outlen ? 1 : -1;
		else
			found = snprintf(out, outlen, "%s/%s", HSMCA_P11_MODULE_PATH, v) < (int)outlen ? 1 : -1;
		break;
	}
	fclose(f);
	if (found < 0)
		return hsmca_error_set(err, "module path in %s is too long", path);
	if (!found)
		return hsmca_error_set(err, "p11-kit module config %s has no 'module:' line", path);
	return 1;
}

static int resolve_name(const char *name, char *out, size_t outlen, hsmca_error *err)
{
	const char *dirs = getenv("HSMCA_P11KIT_MODULE_DIRS");
	char buf[4096];
	char *save = NULL, *dir;

	if (strchr(name, '/') || strchr(name, '.'))
		return hsmca_error_set(err, "'%s' is neither a module path nor a p11-kit module name",
				       name);
	snprintf(buf, sizeof(buf), "%s", dirs && *dirs ? dirs : HSMCA_P11_CONFIG_DIRS);
	for (dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		int rc = lookup_config(dir, name, out, outlen, err);

		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	return hsmca_error_set(err, "no PKCS#11 module named '%s' is registered with p11-kit "
				    "(looked in %s; give a path to the .so instead)",
			       name, dirs && *dirs ? dirs : HSMCA_P11_CONFIG_DIRS);
}

int hsmca_module_open(const char *path_or_name, hsmca_module **out, hsmca_error *err)
{
	hsmca_module *m = NULL;
	CK_INFO info;
	CK_RV rv;
	struct stat st;
	char *msg;

	if (!path_or_name || !*path_or_name)
		return hsmca_error_set(err, "no PKCS#11 module given (use --module PATH|NAME or hsmca init)");
	m = calloc(1, sizeof(*m));
	if (!m)
		return hsmca_error_set(err, "out of memory");
	if (strchr(path_or_name, '/')) {
		if ((size_t)snprintf(m->path, sizeof(m->path), "%s", path_or_name) >= sizeof(m->path)) {
			hsmca_error_set(err, "module path too long");
			goto fail;
		}
	} else if (resolve_name(path_or_name, m->path, sizeof(m->path), err) != 0) {
		goto fail;
	}
	if (stat(m->path, &st) != 0) {
		hsmca_error_errno(err, "cannot load PKCS#11 module %s", m->path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		hsmca_error_set(err, "cannot load PKCS#11 module %s: not a regular file", m->path);
		goto fail;
	}
	/* Code we are about to run with the PIN: it and its directories must be
	 * yours or root's and writable by nobody else. */
	if (hsmca_secure_path(m->path, false, err) != 0) {
		hsmca_error_prefix(err, "cannot load PKCS#11 module %s", m->path);
		goto fail;
	}
	m->is_tpm = hsmca_tpm_module_path(m->path);
	if (m->is_tpm)
		hsmca_tpm_prepare_env();
	/* Unmanaged: p11-kit only dlopens this one module; we drive C_Initialize. */
	m->loaded = p11_kit_module_load(m->path, P11_KIT_MODULE_UNMANAGED | P11_KIT_MODULE_CRITICAL);
	m->fns = m->loaded;
	/* A TPM can block forever (even in C_Initialize): watch its calls. */
	if (m->fns && m->is_tpm)
		m->fns = hsmca_watchdog_wrap(m->loaded);
	if (!m->fns) {
		msg = (char *)p11_kit_message();
		hsmca_error_set(err, "cannot load PKCS#11 module %s: %s", m->path,
				msg ? msg : "not a PKCS#11 module");
		goto fail;
	}
	{
		/* Worker threads share the module: ask for OS locking. */
		CK_C_INITIALIZE_ARGS args;

		memset(&args, 0, sizeof(args));
		args.flags = CKF_OS_LOCKING_OK;
		rv = m->fns->C_Initialize(&args);
	}
	if (rv != CKR_OK) {
		if (m->is_tpm && rv == CKR_GENERAL_ERROR) {
			/* libtpm2_pkcs11 connects to the TPM in C_Initialize. */
			hsmca_error_set(err, "cannot initialise PKCS#11 module %s: no TPM answered "
					     "through TCTI %s (check the TPM device or that "
					     "tpm2-abrmd/swtpm runs, and TPM2_PKCS11_TCTI) (PKCS#11 %s)",
					m->path, hsmca_tpm_tcti(), hsmca_ckr_name(rv));
			if (err)
				err->code = rv;
		} else {
			hsmca_ckr_error(err, rv, "cannot initialise PKCS#11 module %s", m->path);
		}
		p11_kit_module_release(m->loaded);
		m->fns = NULL;
		goto fail;
	}
	rv = m->fns->C_GetInfo(&info);
	if (rv == CKR_OK) {
		hsmca_p11_string(m->manufacturer, sizeof(m->manufacturer), info.manufacturerID,
				 sizeof(info.manufacturerID));
		hsmca_p11_string(m->description, sizeof(m->description), info.libraryDescription,
				 sizeof(info.libraryDescription));
	}
	m->is_tpm = m->is_tpm || strstr(m->manufacturer, "tpm2-software") != NULL;
	m->is_software = strstr(m->manufacturer, "SoftHSM") != NULL ||
			 strstr(m->description, "SoftHSM") != NULL;
	*out = m;
	return 0;
fail:
	free(m);
	return -1;
}

void hsmca_module_close(hsmca_module *m)
{
	if (!m)
		return;
	if (m->fns) {
		m->fns->C_Finalize(NULL);
		p11_kit_module_release(m->loaded);
	}
	free(m);
}

const char *hsmca_module_path(const hsmca_module *m) { return m->path; }
const char *hsmca_module_manufacturer(const hsmca_module *m) { return m->manufacturer; }
const char *hsmca_module_description(const hsmca_module *m) { return m->description; }
bool hsmca_module_is_tpm(const hsmca_module *m) { return m->is_tpm; }
bool hsmca_module_is_software(const hsmca_module *m) { return m->is_software; }
CK_FUNCTION_LIST *hsmca_module_functions(const hsmca_module *m) { return m->fns; }

static void token_info_from(struct hsmca_token_info *ti, CK_SLOT_ID slot, const CK_TOKEN_INFO *info)
{
	memset(ti, 0, sizeof(*ti));
	ti->slot = slot;
	hsmca_p11_string(ti->label, sizeof(ti->label), info->label, sizeof(info->label));
	hsmca_p11_string(ti->manufacturer, sizeof(ti->manufacturer), info->manufacturerID,
			 sizeof(info->manufacturerID));
	hsmca_p11_string(ti->model, sizeof(ti->model), info->model, sizeof(info->model));
	hsmca_p11_string(ti->serial, sizeof(ti->serial), info->serialNumber,
			 sizeof(info->serialNumber));
	ti->flags = info->flags;
	ti->initialized = (info->flags & CKF_TOKEN_INITIALIZED) != 0;
}

int hsmca_module_tokens(hsmca_module *m, struct hsmca_token_info **out, size_t *n,
			hsmca_error *err)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG count = 0, i;
	struct hsmca_token_info *list = NULL;
	size_t have = 0;
	CK_RV rv;
	int ret = -1;

	rv = m->fns->C_GetSlotList(CK_TRUE, NULL, &count);
	if (rv != CKR_OK) {
		hsmca_p11_error(m, CK_INVALID_HANDLE, err, rv, "list slots of %s", m->path);
		goto out;
	}
	slots = calloc(count ? count : 1, sizeof(*slots));
	list = calloc(count ? count : 1, sizeof(*list));
	if (!slots || !list) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	rv = m->fns->C_GetSlotList(CK_TRUE, slots, &count);
	if (rv != CKR_OK) {
		hsmca_p11_error(m, CK_INVALID_HANDLE, err, rv, "list slots of %s", m->path);
		goto out;
	}
	for (i = 0; i < count; i++) {
		CK_TOKEN_INFO info;

		if (m->fns->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		token_info_from(&list[have++], slots[i], &info);
	}
	*out = list;
	*n = have;
	list = NULL;
	ret = 0;
out:
	free(slots);
	free(list);
	return ret;
}

int hsmca_module_init_token(hsmca_module *m, const char *label, const struct hsmca_pin *so_pin,
			    const struct hsmca_pin *user_pin, CK_SLOT_ID *slot, hsmca_error *err)
{
	struct hsmca_token_info *list = NULL;
	size_t n = 0, i;
	CK_UTF8CHAR padded[32];
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_SLOT_ID target = 0;
	bool found = false;
	CK_RV rv;
	int ret = -1;

	if (strlen(label) == 0 || strlen(label) > 32)
		return hsmca_error_set(err, "token label '%s' must be 1 to 32 bytes", label);
	if (hsmca_module_tokens(m, &list, &n, err) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (list[i].initialized && strcmp(list[i].label, label) == 0) {
			hsmca_error_set(err, "a token labelled '%s' already exists (slot %lu)", label,
					(unsigned long)list[i].slot);
			goto out;
		}
	}
	for (i = 0; i < n && !found; i++) {
		if (!list[i].initialized) {
			target = list[i].slot;
			found = true;
		}
	}
	if (!found) {
		hsmca_error_set(err, "no free slot with an uninitialised token in %s", m->path);
		goto out;
	}
	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label));
	rv = m->fns->C_InitToken(target, (CK_UTF8CHAR_PTR)so_pin->value, so_pin->len, padded);
	if (rv != CKR_OK) {
		hsmca_p11_error(m, CK_INVALID_HANDLE, err, rv, "initialise token '%s' in slot %lu", label, (unsigned long)target);
		goto out;
	}
	/* Some modules (SoftHSM2) move the new token to a fresh slot id. */
	free(list);
	list = NULL;
	if (hsmca_module_tokens(m, &list, &n, err) != 0)
		goto out;
	found = false;
	for (i = 0; i < n; i++) {
		if (list[i].initialized && strcmp(list[i].label, label) == 0) {
			target = list[i].slot;
			found = true;
			break;
		}
	}
	if (!found) {
		hsmca_error_set(err, "token '%s' was initialised but does not appear in the slot list",
				label);
		goto out;
	}
	rv = m->fns->C_OpenSession(target, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		hsmca_p11_error(m, CK_INVALID_HANDLE, err, rv, "open a session on token '%s'", label);
		goto out;
	}
	rv = m->fns->C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)so_pin->value, so_pin->len);
	if (rv != CKR_OK) {
		hsmca_p11_error(m, s, err, rv, "log in as security officer on token '%s'", label);
		goto out;
	}
	rv = m->fns->C_InitPIN(s, (CK_UTF8CHAR_PTR)user_pin->value, user_pin->len);
	m->fns->C_Logout(s);
	if (rv != CKR_OK) {
		hsmca_p11_error(m, s, err, rv, "set the user PIN on token '%s'", label);
		goto out;
	}
	*slot = target;
	ret = 0;
out:
	if (s != CK_INVALID_HANDLE)
		m->fns->C_CloseSession(s);
	free(list);
	return ret;
}
