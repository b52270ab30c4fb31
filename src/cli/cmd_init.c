/* hsmca init: create the state directory and its token. */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/fsutil.h"
#include "common/secure_path.h"
#include "common/util.h"
#include "pinshare/pinshare.h"

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define TPM_MODULE "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"

/* A random PIN kept in memory only. */
static int cli_random_pin(struct hsmca_pin *pin, hsmca_error *err)
{
	uint8_t raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return hsmca_error_openssl(err, "draw a random PIN");
	hsmca_hex(raw, sizeof(raw), pin->value);
	hsmca_wipe(raw, sizeof(raw));
	pin->len = 2 * sizeof(raw);
	return 0;
}

/* A random PIN for the embedded development token, written 0600. */
static int make_pin_file(const char *path, struct hsmca_pin *pin, hsmca_error *err)
{
	uint8_t raw[16];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return hsmca_error_openssl(err, "draw a random PIN");
	hsmca_hex(raw, sizeof(raw), pin->value);
	hsmca_wipe(raw, sizeof(raw));
	pin->len = 2 * sizeof(raw);
	if (hsmca_write_secret(path, pin->value, pin->len, err) != 0) {
		hsmca_pin_wipe(pin);
		return -1;
	}
	return 0;
}

static int write_softhsm_conf(const char *home, struct hsmca_config *cfg, hsmca_error *err)
{
	char tokens[PATH_MAX], text[PATH_MAX + 128];
	int n;

	if (hsmca_path_join(tokens, sizeof(tokens), err, "%s/tokens", home) != 0 ||
	    hsmca_path_join(cfg->softhsm2_conf, sizeof(cfg->softhsm2_conf), err, "%s/softhsm2.conf",
			    home) != 0)
		return -1;
	if (mkdir(tokens, 0700) != 0 && errno != EEXIST)
		return hsmca_error_errno(err, "cannot create %s", tokens);
	n = snprintf(text, sizeof(text),
		     "# SoftHSM2 configuration of hsmca's embedded development token.\n"
		     "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		     tokens);
	return hsmca_write_atomic(cfg->softhsm2_conf, text, (size_t)n, 0644, err);
}

/* Remove a tree this command created (fork/exec, no shell). */
static void rm_rf(const char *path)
{
	const char *argvrm[] = { "rm", "-rf", "--", path, NULL };
	pid_t pid = fork();

	if (pid == 0) {
		execvp("rm", (char *const *)argvrm);
		_exit(127);
	}
	if (pid > 0) {
		int status;

		waitpid(pid, &status, 0);
	}
}

static bool dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool empty = true;

	if (!d)
		return false;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

/* A state directory about to be made: the directories it is made in must
 * pass the StrictModes check too, from the deepest one that exists. */
static int check_new_home(const char *home, hsmca_error *err)
{
	char buf[PATH_MAX];
	struct stat st;
	char *slash;

	if (hsmca_path_join(buf, sizeof(buf), err, "%s", home) != 0)
		return -1;
	while ((slash = strrchr(buf, '/')) != NULL && slash != buf) {
		*slash = '\0';
		if (stat(buf, &st) == 0)
			return hsmca_secure_path(buf, true, err);
	}
	return hsmca_secure_path(slash ? "/" : ".", true, err);
}

static void usage_init(void)
{
	cli_print_synopsis(stdout, "init");
	puts("\nCreates the state directory (--home, $HSMCA_HOME or ~/.local/share/hsmca).\n"
	     "  --softhsm            embedded development token: a SoftHSM2 store inside the\n"
	     "                       state directory (inspect with SOFTHSM2_CONF=<home>/softhsm2.conf)\n"
	     "  --tpm                a TPM 2.0 through libtpm2-pkcs11, store inside the state dir\n"
	     "  --tcti TCTI          TPM transport (default $TPM2_PKCS11_TCTI, else device:/dev/tpmrm0)\n"
	     "  --label L            label of the token to create (default hsmca)\n"
	     "  --so-pin-source SRC  security-officer PIN for the new token (file:PATH | env:VAR)\n"
	     "  --pin-shares M/N     split the user and SO PINs into N shares, any M of which\n"
	     "                       open the token (with --shares-out DIR; no PIN file is kept)\n"
	     "An audit key is generated in the token and the first checkpoint signed.\n"
	     "Without --softhsm/--tpm, the global --module and --token name an existing token.\n"
	     "With --softhsm/--tpm and no --pin-source, random PINs are generated into\n"
	     "<home>/pins/ (mode 0600) — convenient for development, not for production.");
}

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "softhsm", no_argument, NULL, 's' },	{ "tpm", no_argument, NULL, 't' },
		{ "tcti", required_argument, NULL, 'c' }, { "label", required_argument, NULL, 'l' },
		{ "so-pin-source", required_argument, NULL, 'o' }, { "help", no_argument, NULL, 'h' },
		{ "pin-shares", required_argument, NULL, 'P' }, { "shares-out", required_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	bool softhsm = false, tpm = false, home_made = false;
	const char *tcti = NULL, *label = "hsmca", *so_src = NULL, *shares_out = NULL;
	unsigned shares_m = 0, shares_n = 0;
	struct hsmca_config cfg;
	struct hsmca_pin user_pin, so_pin;
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], path[PATH_MAX], tokuri[600];
	hsmca_module *m = NULL;
	hsmca_audit *audit = NULL;
	CK_SLOT_ID slot = 0;
	struct stat st;
	int c, ret = CLI_FAIL;

	memset(&cfg, 0, sizeof(cfg));
	memset(&user_pin, 0, sizeof(user_pin));
	memset(&so_pin, 0, sizeof(so_pin));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': softhsm = true; break;
		case 't': tpm = true; break;
		case 'c': tcti = optarg; break;
		case 'l': label = optarg; break;
		case 'o': so_src = optarg; break;
		case 'P':
			if (hsmca_pinshare_parse_mn(optarg, &shares_m, &shares_n, &err) != 0)
				return cli_usage("init", "init: %s", err.msg);
			break;
		case 'O': shares_out = optarg; break;
		case 'h': usage_init(); return CLI_OK;
		default: return cli_usage("init", "init: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("init", "init: unexpected argument '%s'", argv[optind]);
	if (softhsm && tpm)
		return cli_usage("init", "init: --softhsm and --tpm exclude each other");
	if (tcti && !tpm)
		return cli_usage("init", "init: --tcti only applies with --tpm");
	if (!softhsm && !tpm && (!cli.module || !*cli.module))
		return cli_usage("init", "init: choose --softhsm, --tpm, or give --module for an existing token");
	if ((softhsm || tpm) && cli.module)
		return cli_usage("init", "init: --module cannot be combined with --softhsm/--tpm");
	if (!shares_m != !shares_out)
		return cli_usage("init", "init: --pin-shares M/N and --shares-out DIR go together");
	if (shares_m && !softhsm && !tpm)
		return cli_usage("init", "init: --pin-shares applies to a token init creates (--softhsm, "
				 "--tpm); for an existing token use 'hsmca pin split'");
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0)
		return cli_fail(&err);
	if (hsmca_config_exists(home))
		return cli_failf("init: %s is already an hsmca state directory (hsmca.yaml exists); "
				 "nothing changed", home);
	if (stat(home, &st) != 0) {
		if (check_new_home(home, &err) != 0) {
			hsmca_error_prefix(&err, "init: cannot create %s safely", home);
			return cli_fail(&err);
		}
		if (hsmca_mkdir_p(home, 0700, &err) != 0)
			return cli_fail(&err);
		home_made = true;
	} else if (!S_ISDIR(st.st_mode)) {
		return cli_failf("init: %s exists and is not a directory", home);
	} else if (!dir_empty(home)) {
		return cli_failf("init: %s exists and is not empty; choose a new state directory", home);
	}

	if (softhsm || tpm) {
		char pins[PATH_MAX];

		if (softhsm) {
			snprintf(cfg.module, sizeof(cfg.module), "%s", SOFTHSM_MODULE);
			if (write_softhsm_conf(home, &cfg, &err) != 0)
				goto fail;
		} else {
			const char *env = getenv("TPM2_PKCS11_TCTI");

			snprintf(cfg.module, sizeof(cfg.module), "%s", TPM_MODULE);
			if (hsmca_path_join(cfg.tpm_store, sizeof(cfg.tpm_store), &err, "%s/tpm2-store", home) != 0)
				goto fail;
			if (mkdir(cfg.tpm_store, 0700) != 0 && errno != EEXIST) {
				hsmca_error_errno(&err, "cannot create %s", cfg.tpm_store);
				goto fail;
			}
			snprintf(cfg.tpm_tcti, sizeof(cfg.tpm_tcti), "%s",
				 tcti ? tcti : env && *env ? env : "device:/dev/tpmrm0");
		}
		hsmca_config_apply_env(&cfg);
		if (hsmca_path_join(pins, sizeof(pins), &err, "%s/pins", home) != 0)
			goto fail;
		if ((!cli.pin_source || !so_src) && !shares_m) {
			if (mkdir(pins, 0700) != 0 && errno != EEXIST) {
				hsmca_error_errno(&err, "cannot create %s", pins);
				goto fail;
			}
		}
		if (cli.pin_source) {
			if (cli_read_new_pin(cli.pin_source, "user PIN", &user_pin, &err) != 0)
				goto fail;
		} else if (shares_m) {
			/* Custody by shares: the PIN exists only in memory until split. */
			if (cli_random_pin(&user_pin, &err) != 0)
				goto fail;
			snprintf(cfg.pin_source, sizeof(cfg.pin_source), "shares:tty");
		} else {
			if (hsmca_path_join(path, sizeof(path), &err, "%s/user.pin", pins) != 0 ||
			    make_pin_file(path, &user_pin, &err) != 0)
				goto fail;
			snprintf(cfg.pin_source, sizeof(cfg.pin_source), "file:%s", path);
		}
		if (so_src) {
			if (cli_read_new_pin(so_src, "SO PIN", &so_pin, &err) != 0)
				goto fail;
		} else if (shares_m) {
			if (cli_random_pin(&so_pin, &err) != 0)
				goto fail;
		} else if (hsmca_path_join(path, sizeof(path), &err, "%s/so.pin", pins) != 0 ||
			   make_pin_file(path, &so_pin, &err) != 0) {
			goto fail;
		}
		if (hsmca_module_open(cfg.module, &m, &err) != 0 ||
		    hsmca_module_init_token(m, label, &so_pin, &user_pin, &slot, &err) != 0)
			goto fail;
		snprintf(tokuri, sizeof(tokuri), "pkcs11:token=%s", label);
		if (hsmca_uri_check(tokuri, &err) != 0)
			goto fail;
		snprintf(cfg.token, sizeof(cfg.token), "%s", tokuri);
	} else {
		hsmca_token *t = NULL;

		snprintf(cfg.module, sizeof(cfg.module), "%s", cli.module);
		if (cli.token)
			snprintf(cfg.token, sizeof(cfg.token), "%s", cli.token);
		if (cli.pin_source)
			snprintf(cfg.pin_source, sizeof(cfg.pin_source), "%s", cli.pin_source);
		/* Prove the module and token are reachable before recording them. */
		if (hsmca_module_open(cfg.module, &m, &err) != 0 ||
		    hsmca_token_open(m, cfg.token, &t, &err) != 0)
			goto fail;
		hsmca_token_close(t);
		if (cli.pin_source && hsmca_pin_read(cli.pin_source, "User PIN: ", &user_pin, &err) != 0)
			goto fail;
	}
	if (hsmca_config_save(home, &cfg, &err) != 0)
		goto fail;
	if (hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0 ||
	    hsmca_audit_open(path, &audit, &err) != 0)
		goto fail;
	{
		const char *d[] = { "module", cfg.module, "token", cfg.token,
				    "kind", softhsm ? "softhsm-embedded" : tpm ? "tpm" : "existing", NULL };

		if (hsmca_audit_append(audit, "init", home, "ok", d, &err) != 0)
			goto fail;
	}
	printf("initialised %s\n  module: %s\n  token:  %s\n", home, cfg.module,
	       cfg.token[0] ? cfg.token : "(the module's only token)");
	if (softhsm)
		printf("  embedded SoftHSM2 token for development: inspect it with\n"
		       "    SOFTHSM2_CONF=%s pkcs11-tool --module %s -O\n",
		       cfg.softhsm2_conf, SOFTHSM_MODULE);
	if (cfg.pin_source[0] && strncmp(cfg.pin_source, "file:", 5) == 0 && !cli.pin_source)
		printf("  PINs: generated into %s/pins/ (0600); use your own with --pin-source\n", home);
	if (user_pin.len == 0)
		printf("  no audit key yet: give --pin-source, or run 'hsmca audit key init'\n");
	else if (cli_init_custody(home, m, cfg.token, &user_pin, so_pin.len ? &so_pin : NULL,
				  shares_m, shares_n, shares_out, label) != CLI_OK)
		goto fail_quiet;
	ret = CLI_OK;
	goto out;
fail:
	cli_fail(&err);
fail_quiet:
	/* Leave nothing half-made: remove what this command created. */
	hsmca_module_close(m);
	m = NULL;
	if (home_made) {
		rm_rf(home);
	} else {
		static const char *const made[] = { "softhsm2.conf", "tokens", "pins", "tpm2-store",
						    "hsmca.yaml", "audit.log", "audit.log.head",
						    "audit.checkpoints", "audit-key.pem", NULL };
		const char *const *p;

		for (p = made; *p; p++) {
			if (snprintf(path, sizeof(path), "%s/%s", home, *p) < (int)sizeof(path))
				rm_rf(path);
		}
	}
	ret = CLI_FAIL;
out:
	hsmca_pin_wipe(&user_pin);
	hsmca_pin_wipe(&so_pin);
	hsmca_audit_close(audit);
	hsmca_module_close(m);
	return ret;
}
