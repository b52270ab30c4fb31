/* hsmca revoke CA SERIAL [--reason R]: record a revocation (revoked.jsonl)
 * and audit it.  Nothing is signed here, so the token is not opened; the
 * next 'hsmca crl CA' publishes it. */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "ca/ca.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "store/records.h"

static void usage_revoke(void)
{
	cli_print_synopsis(stdout, "revoke");
	puts("\nRecords that CA revoked the certificate with SERIAL (hex, colons allowed, as\n"
	     "printed by 'hsmca certs list' or 'openssl x509 -serial'). The serial must be one\n"
	     "the CA issued; a certificate is revoked once. Publish with 'hsmca crl CA'.\n"
	     "  --reason R   unspecified (default), keyCompromise, cACompromise,\n"
	     "               affiliationChanged, superseded, cessationOfOperation,\n"
	     "               certificateHold, privilegeWithdrawn, aACompromise\n"
	     "               (any case; key-compromise style works too)");
}

int cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	hsmca_error err = { "", 0 }, aerr = { "", 0 };
	struct hsmca_ca *ca = NULL;
	hsmca_audit *audit = NULL;
	char home[PATH_MAX], path[PATH_MAX], hex[41], at[21];
	const char *name, *serial_text, *reason_name = "unspecified";
	uint8_t serial[20];
	size_t serial_len = 0;
	int opt, reason = 0, ret = CLI_FAIL;
	time_t now;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r': reason_name = optarg; break;
		case 'h': usage_revoke(); return CLI_OK;
		default: return cli_usage("revoke", "revoke: unknown or incomplete option '%s'",
					  argv[optind - 1]);
		}
	}
	if (argc - optind != 2)
		return cli_usage("revoke", "revoke: CA and SERIAL are required (and nothing else)");
	name = argv[optind];
	serial_text = argv[optind + 1];
	if (hsmca_ca_name_check(name, &err) != 0 ||
	    hsmca_records_parse_serial(serial_text, serial, &serial_len, &err) != 0 ||
	    hsmca_revocation_parse_reason(reason_name, &reason, &err) != 0)
		return cli_usage("revoke", "revoke: %s", err.msg);
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0)
		return cli_fail(&err);
	if (!hsmca_config_exists(home))
		return cli_failf("revoke: %s is not an hsmca state directory (see 'hsmca init')", home);
	if (hsmca_ca_load(home, name, &ca, &err) != 0 ||
	    hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0 ||
	    hsmca_audit_open(path, &audit, &err) != 0) {
		cli_failf("revoke: %s", err.msg);
		goto out;
	}
	hsmca_hex(serial, serial_len, hex);
	now = hsmca_now();
	hsmca_format_time(now, at);
	if (hsmca_revoke(ca->dir, serial, serial_len, reason, now, &err) != 0) {
		const char *d[] = { "serial", hex, "reason", hsmca_revocation_reason_name(reason),
				    "error", err.msg, NULL };

		hsmca_audit_append(audit, "revoke", ca->name, "failed", d, NULL);
		cli_fail(&err);
		goto out;
	}
	{
		const char *d[] = { "serial", hex, "reason", hsmca_revocation_reason_name(reason),
				    "revoked_at", at, NULL };

		if (hsmca_audit_append(audit, "revoke", ca->name, "ok", d, &aerr) != 0) {
			cli_failf("revoke %s: recorded in %s/revoked.jsonl, but the audit log refused "
				  "the event: %s", hex, ca->dir, aerr.msg);
			goto out;
		}
	}
	if (cli.json)
		printf("{\"ca\":\"%s\",\"serial\":\"%s\",\"reason\":\"%s\",\"revoked_at\":\"%s\"}\n",
		       ca->name, hex, hsmca_revocation_reason_name(reason), at);
	else
		printf("revoked %s of CA %s at %s (reason %s); publish it with 'hsmca crl %s'\n", hex,
		       ca->name, at, hsmca_revocation_reason_name(reason), ca->name);
	ret = CLI_OK;
out:
	hsmca_audit_close(audit);
	hsmca_ca_free(ca);
	return ret;
}
