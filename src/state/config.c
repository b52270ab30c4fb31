#include "state/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/secure_path.h"
#include "yaml/ytree.h"

int hsmca_home_resolve(const char *flag, char *out, size_t outlen, hsmca_error *err)
{
	const char *env = getenv("HSMCA_HOME");
	const char *home = getenv("HOME");

	struct stat st;
	int rc;

	if (flag && *flag)
		rc = hsmca_path_join(out, outlen, err, "%s", flag);
	else if (env && *env)
		rc = hsmca_path_join(out, outlen, err, "%s", env);
	else if (home && *home)
		rc = hsmca_path_join(out, outlen, err, "%s/.local/share/hsmca", home);
	else
		return hsmca_error_set(err, "no state directory: set --home or HSMCA_HOME");
	if (rc != 0)
		return -1;
	/* StrictModes: nothing is read from a state directory another user could
	 * have written (docs/security.md).  A missing one is the caller's case. */
	if (stat(out, &st) != 0)
		return 0;
	if (hsmca_secure_tree(out, err) != 0)
		return hsmca_error_prefix(err, "state directory %s refused", out);
	return 0;
}

bool hsmca_config_exists(const char *home)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/hsmca.yaml", home) >= (int)sizeof(path))
		return false;
	return stat(path, &st) == 0;
}

static int opt_string(const struct hsmca_ynode *map, const char *key, char *out, size_t outlen,
		      hsmca_error *err)
{
	const struct hsmca_ynode *n = hsmca_ynode_get(map, key);

	out[0] = '\0';
	if (!n)
		return 0;
	return hsmca_ynode_string(n, out, outlen, err);
}

int hsmca_config_load(const char *home, struct hsmca_config *cfg, hsmca_error *err)
{
	static const char *const top[] = { "version", "module", "token", "pin_source", "software_token",
					   "tpm", NULL };
	static const char *const soft[] = { "softhsm2_conf", NULL };
	static const char *const tpm[] = { "store", "tcti", NULL };
	struct hsmca_ytree *tree = NULL;
	const struct hsmca_ynode *root, *n;
	char path[PATH_MAX];
	int ret = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (hsmca_path_join(path, sizeof(path), err, "%s/hsmca.yaml", home) != 0)
		return -1;
	if (access(path, F_OK) != 0)
		return hsmca_error_set(err, "%s is not an hsmca state directory (no hsmca.yaml); run "
					    "'hsmca init' first or set --home/HSMCA_HOME",
				       home);
	if (hsmca_ytree_load_file(path, 64 * 1024, 0, &tree, err) != 0)
		return -1;
	root = hsmca_ytree_root(tree);
	if (!root) {
		hsmca_error_set(err, "%s is empty", path);
		goto out;
	}
	if (hsmca_ynode_check_keys(root, top, NULL, err) != 0 ||
	    hsmca_ynode_require_version(root, 1, err) != 0 ||
	    hsmca_ynode_require(root, "module", &n, err) != 0 ||
	    hsmca_ynode_string(n, cfg->module, sizeof(cfg->module), err) != 0 ||
	    opt_string(root, "token", cfg->token, sizeof(cfg->token), err) != 0 ||
	    opt_string(root, "pin_source", cfg->pin_source, sizeof(cfg->pin_source), err) != 0)
		goto out;
	if ((n = hsmca_ynode_get(root, "software_token"))) {
		if (hsmca_ynode_check_keys(n, soft, NULL, err) != 0 ||
		    opt_string(n, "softhsm2_conf", cfg->softhsm2_conf, sizeof(cfg->softhsm2_conf), err) != 0)
			goto out;
	}
	if ((n = hsmca_ynode_get(root, "tpm"))) {
		if (hsmca_ynode_check_keys(n, tpm, NULL, err) != 0 ||
		    opt_string(n, "store", cfg->tpm_store, sizeof(cfg->tpm_store), err) != 0 ||
		    opt_string(n, "tcti", cfg->tpm_tcti, sizeof(cfg->tpm_tcti), err) != 0)
			goto out;
	}
	/* Files the config points at outside the state directory get the same
	 * rule: the module reads its token store through them. */
	if (cfg->softhsm2_conf[0] && hsmca_secure_path(cfg->softhsm2_conf, false, err) != 0) {
		hsmca_error_prefix(err, "%s: software_token.softhsm2_conf refused", path);
		goto out;
	}
	if (cfg->tpm_store[0] && access(cfg->tpm_store, F_OK) == 0 &&
	    hsmca_secure_path(cfg->tpm_store, true, err) != 0) {
		hsmca_error_prefix(err, "%s: tpm.store refused", path);
		goto out;
	}
	ret = 0;
out:
	hsmca_ytree_free(tree);
	return ret;
}

/* Double-quoted YAML scalar: escape backslash and quote; control bytes are
 * refused by the callers' inputs. */
static void put_quoted(FILE *f, const char *key, const char *v, const char *indent)
{
	fprintf(f, "%s%s: \"", indent, key);
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputs("\"\n", f);
}

int hsmca_config_save(const char *home, const struct hsmca_config *cfg, hsmca_error *err)
{
	char path[PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (hsmca_path_join(path, sizeof(path), err, "%s/hsmca.yaml", home) != 0)
		return -1;
	f = open_memstream(&buf, &len);
	if (!f)
		return hsmca_error_errno(err, "cannot build %s", path);
	fputs("# hsmca state directory configuration (see hsmca(1)).\n"
	      "# Public settings only: no key material or PIN is ever stored here.\n"
	      "version: 1\n", f);
	put_quoted(f, "module", cfg->module, "");
	if (cfg->token[0])
		put_quoted(f, "token", cfg->token, "");
	if (cfg->pin_source[0])
		put_quoted(f, "pin_source", cfg->pin_source, "");
	if (cfg->softhsm2_conf[0]) {
		fputs("software_token:\n", f);
		put_quoted(f, "softhsm2_conf", cfg->softhsm2_conf, "  ");
	}
	if (cfg->tpm_store[0] || cfg->tpm_tcti[0]) {
		fputs("tpm:\n", f);
		if (cfg->tpm_store[0])
			put_quoted(f, "store", cfg->tpm_store, "  ");
		if (cfg->tpm_tcti[0])
			put_quoted(f, "tcti", cfg->tpm_tcti, "  ");
	}
	fclose(f);
	ret = hsmca_write_atomic(path, buf, len, 0644, err);
	free(buf);
	return ret;
}

void hsmca_config_apply_env(const struct hsmca_config *cfg)
{
	if (cfg->softhsm2_conf[0])
		setenv("SOFTHSM2_CONF", cfg->softhsm2_conf, 1);
	if (cfg->tpm_store[0])
		setenv("TPM2_PKCS11_STORE", cfg->tpm_store, 1);
	if (cfg->tpm_tcti[0])
		setenv("TPM2_PKCS11_TCTI", cfg->tpm_tcti, 1);
}
