/* hsmca pin split --shares M/N --out DIR [--so-pin-source SRC]
 * and the custody steps of hsmca init (audit key, first checkpoint, shares). */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "common/fsutil.h"
#include "pinshare/pinshare.h"

static int split_and_record(hsmca_token *t, hsmca_audit *a, const struct hsmca_pin *user_pin,
			    const struct hsmca_pin *so_pin, unsigned m, unsigned n, const char *dir,
			    const char *label, hsmca_error *err)
{
	const struct hsmca_token_info *ti = hsmca_token_get_info(t);
	char mn[24];
	const char *d[] = { "threshold", mn, "pins", so_pin ? "user,so" : "user", "out", dir,
			    "token_serial", ti->serial, NULL };

	snprintf(mn, sizeof(mn), "%u-of-%u", m, n);
	if (hsmca_pinshare_split(user_pin, so_pin, m, n, label ? label : ti->label, ti->serial, dir,
				 err) != 0) {
		hsmca_audit_append(a, "pin-split", ti->label, "failed", d, NULL);
		return -1;
	}
	return hsmca_audit_append(a, "pin-split", ti->label, "ok", d, err);
}

int cli_init_custody(const char *home, hsmca_module *m, const char *token_uri,
		     const struct hsmca_pin *user_pin, const struct hsmca_pin *so_pin, unsigned shares_m,
		     unsigned shares_n, const char *shares_out, const char *label)
{
	hsmca_error err = { "", 0 };
	struct hsmca_checkpoint cp;
	char path[PATH_MAX];
	hsmca_token *t = NULL;
	hsmca_audit *a = NULL;
	bool exists = false;
	int ret = CLI_FAIL;

	if (hsmca_token_open(m, token_uri, &t, &err) != 0 ||
	    hsmca_token_login(t, false, user_pin, &err) != 0 ||
	    hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0 ||
	    hsmca_audit_open(path, &a, &err) != 0)
		goto fail;
	/* A token that already has an audit key (another state directory over
	 * it) keeps it: one key, one anchor. */
	if (hsmca_key_label_exists(t, HSMCA_AUDIT_KEY_LABEL, &exists, &err) != 0 ||
	    (exists ? hsmca_checkpoint_key_export(t, home, &err)
		    : hsmca_checkpoint_key_init(t, home, a, &err)) != 0)
		goto fail;
	if (shares_m &&
	    split_and_record(t, a, user_pin, so_pin, shares_m, shares_n, shares_out, label, &err) != 0)
		goto fail;
	if (hsmca_checkpoint_sign(t, home, a, &cp, &err) != 0)
		goto fail;
	printf("  audit key:   %s in the token; public key %s/audit-key.pem (keep a copy off this "
	       "host)\n  checkpoint:  %zu, line %zu\n",
	       HSMCA_AUDIT_KEY_LABEL, home, cp.number, cp.seq);
	if (shares_m)
		printf("  PIN shares:  %u of %u needed; %s/share-<i>-of-%u.txt (0600), one per "
		       "custodian; log in with --pin-source shares:DIR or shares:tty\n",
		       shares_m, shares_n, shares_out, shares_n);
	ret = CLI_OK;
	goto out;
fail:
	fprintf(stderr, "hsmca: init: %s\n", err.msg);
out:
	hsmca_audit_close(a);
	hsmca_token_close(t);
	return ret;
}

static void usage_pin(FILE *f)
{
	cli_print_synopsis(f, "pin");
	fputs("\nSplits the token's user PIN (from --pin-source, checked by logging in) and, with\n"
	      "--so-pin-source, its SO PIN into N shares, any M of which rebuild them\n"
	      "(Shamir, libgfshare). DIR gets share-<i>-of-<N>.txt, mode 0600: one file per\n"
	      "custodian. Log in later with --pin-source shares:DIR or shares:tty.\n",
	      f);
}

int cmd_pin(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shares", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "so-pin-source", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hsmca_session *s = NULL;
	struct hsmca_pin user_pin, so_pin;
	hsmca_error err = { "", 0 };
	const char *out = NULL, *so_src = NULL, *mn = NULL;
	unsigned m = 0, n = 0;
	int c, ret = CLI_FAIL;

	memset(&user_pin, 0, sizeof(user_pin));
	memset(&so_pin, 0, sizeof(so_pin));
	if (argc < 2 || strcmp(argv[1], "split") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			usage_pin(stdout);
			return CLI_OK;
		}
		return cli_usage("pin", "pin: the only action is 'split'");
	}
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': mn = optarg; break;
		case 'o': out = optarg; break;
		case 'S': so_src = optarg; break;
		case 'h': usage_pin(stdout); return CLI_OK;
		default: return cli_usage("pin", "pin split: unknown or incomplete option '%s'",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("pin", "pin split: unexpected argument '%s'", argv[optind]);
	if (!mn || !out)
		return cli_usage("pin", "pin split: --shares M/N and --out DIR are required");
	if (hsmca_pinshare_parse_mn(mn, &m, &n, &err) != 0)
		return cli_usage("pin", "pin split: %s", err.msg);
	if (cli_open(&s, false) != 0)
		return CLI_FAIL;
	if (hsmca_pin_read(cli.pin_source && *cli.pin_source ? cli.pin_source
				: s->cfg.pin_source[0] ? s->cfg.pin_source : NULL,
			   "User PIN: ", &user_pin, &err) != 0)
		goto fail;
	{
		struct hsmca_pinshare_use use;
		const char *serial = hsmca_token_get_info(s->token)->serial;

		/* Rebuilt from shares: they must be this token's before it sees the PIN. */
		if (cli.pin_source && strncmp(cli.pin_source, "shares:", 7) == 0 &&
		    hsmca_pinshare_last(&use) && strcmp(use.token, serial) != 0) {
			hsmca_error_set(&err, "the shares are for token serial %s, this token's serial "
					      "is %s; nothing was sent to the token", use.token, serial);
			goto fail;
		}
	}
	if (hsmca_token_login(s->token, false, &user_pin, &err) != 0)
		goto fail;
	if (so_src && hsmca_pin_read(so_src, "SO PIN: ", &so_pin, &err) != 0)
		goto fail;
	if (split_and_record(s->token, s->audit, &user_pin, so_src ? &so_pin : NULL, m, n, out, NULL,
			     &err) != 0)
		goto fail;
	printf("split the %s into %u shares (any %u rebuild %s) in %s/share-<i>-of-%u.txt, mode 0600\n",
	       so_src ? "user PIN and SO PIN" : "user PIN", n, m, so_src ? "them" : "it", out, n);
	ret = cli_checkpoint(s) == 0 ? CLI_OK : CLI_FAIL;
	goto out;
fail:
	fprintf(stderr, "hsmca: pin split: %s\n", err.msg);
out:
	hsmca_pin_wipe(&user_pin);
	hsmca_pin_wipe(&so_pin);
	cli_close(s);
	return ret;
}
