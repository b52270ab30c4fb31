/* hsmca crl CA [--next-update D] [--out FILE] [--der | --pem]: sign the CA's
 * next CRL in the token; to FILE (atomically) or stdout.  A FILE named *.crl
 * gets DER, what relying parties fetch from a CRL distribution point URL
 * (RFC 5280 4.2.1.13); anything else PEM, unless --der or --pem says. */
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ca/ca.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "store/crl.h"
#include "x509/x509.h"

#define DEFAULT_NEXT_UPDATE ((int64_t)7 * 86400)

static void usage_crl(void)
{
	cli_print_synopsis(stdout, "crl");
	puts("\nSigns a CRL v2 for CA in the token: every revocation recorded with\n"
	     "'hsmca revoke' (reason codes, unspecified left out), the CA's AKI and a CRL\n"
	     "number one above the last. The CRL is re-parsed and verified against the CA\n"
	     "certificate before it is written.\n"
	     "  --next-update D  nextUpdate = now + D (default 7d); cut back to the CA's\n"
	     "                   notAfter when it would run past it (a note says so)\n"
	     "  --out FILE       write the CRL to FILE atomically (default: stdout);\n"
	     "                   DER when FILE ends in .crl (what a CDP URL serves), else PEM\n"
	     "  --der, --pem     force the encoding");
}

int cmd_crl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "next-update", required_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ "der", no_argument, NULL, 'D' },
		{ "pem", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	hsmca_error err = { "", 0 };
	struct hsmca_session *s = NULL;
	struct hsmca_ca *ca = NULL;
	struct hsmca_crl_info info;
	struct hsmca_der der;
	int64_t next = DEFAULT_NEXT_UPDATE;
	const char *name, *out_path = NULL;
	char *pem = NULL, tu[21], nu[21];
	size_t pem_len = 0;
	int opt, ret = CLI_FAIL, der_out = -1;

	hsmca_der_init(&der);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (hsmca_parse_duration(optarg, "--next-update", &next, &err) != 0)
				return cli_usage("crl", "crl: %s", err.msg);
			break;
		case 'o': out_path = optarg; break;
		case 'D': der_out = 1; break;
		case 'P': der_out = 0; break;
		case 'h': usage_crl(); return CLI_OK;
		default: return cli_usage("crl", "crl: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage("crl", "crl: exactly one CA is required");
	name = argv[optind];
	if (hsmca_ca_name_check(name, &err) != 0)
		return cli_usage("crl", "crl: %s", err.msg);
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_ca_load(s->home, name, &ca, &err) != 0 ||
	    hsmca_crl_build_ex(s, ca, next, &der, &info, &err) != 0) {
		cli_failf("crl: %s", err.msg);
		goto out;
	}
	if (der_out < 0) {
		size_t l = out_path ? strlen(out_path) : 0;

		der_out = l > 4 && strcmp(out_path + l - 4, ".crl") == 0;
	}
	if (der_out) {
		pem = malloc(der.len ? der.len : 1);
		if (pem) {
			memcpy(pem, der.buf, der.len);
			pem_len = der.len;
		}
	} else {
		pem = hsmca_pem_encode("X509 CRL", der.buf, der.len, &pem_len);
	}
	if (!pem) {
		cli_failf("crl: out of memory");
		goto out;
	}
	hsmca_format_time(info.this_update, tu);
	hsmca_format_time(info.next_update, nu);
	if (info.clamped)
		fprintf(stderr, "hsmca: note: nextUpdate cut back to %s, the notAfter of CA %s's "
				"certificate (renew the CA)\n", nu, ca->name);
	if (out_path) {
		if (hsmca_write_atomic(out_path, pem, pem_len, 0644, &err) != 0) {
			/* The number is spent and audited; running again makes the next one. */
			cli_failf("crl: CRL number %" PRIu64 " was signed but could not be written: %s",
				  info.number, err.msg);
			goto out;
		}
	} else if (fwrite(pem, 1, pem_len, stdout) != pem_len || fflush(stdout) != 0) {
		cli_failf("crl: cannot write the CRL to stdout");
		goto out;
	}
	if (cli.json && out_path) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ca", json_object_new_string(ca->name));
		json_object_object_add(o, "crl_number", json_object_new_uint64(info.number));
		json_object_object_add(o, "this_update", json_object_new_string(tu));
		json_object_object_add(o, "next_update", json_object_new_string(nu));
		json_object_object_add(o, "next_update_clamped", json_object_new_boolean(info.clamped));
		json_object_object_add(o, "revoked", json_object_new_uint64(info.revoked));
		json_object_object_add(o, "out", json_object_new_string(out_path));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		cli_info("CRL number %" PRIu64 " for CA %s: %zu revoked, thisUpdate %s, nextUpdate %s; "
			 "signed in the token and verified%s%s\n",
			 info.number, ca->name, info.revoked, tu, nu, out_path ? "; written to " : "",
			 out_path ? out_path : "");
	}
	ret = CLI_OK;
out:
	free(pem);
	hsmca_der_free(&der);
	hsmca_ca_free(ca);
	cli_close(s);
	return ret;
}
