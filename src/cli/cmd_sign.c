/* hsmca sign CA --csr FILE --profile P [--out FILE] [--validity D] [--san …] [--subject DN]
 *           [--chain-out FILE | --fullchain] */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/fsutil.h"
#include "common/outcheck.h"
#include "common/util.h"
#include "hier/hier.h"
#include "issue/issue.h"

int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "csr", required_argument, NULL, 'c' },     { "profile", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },     { "validity", required_argument, NULL, 'V' },
		{ "san", required_argument, NULL, 's' },     { "subject", required_argument, NULL, 'S' },
		{ "chain-out", required_argument, NULL, 'C' }, { "fullchain", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
	};
	const char *chain_out = NULL;
	bool fullchain = false;
	const char *sans[HSMCA_ISSUE_MAX_SANS];
	struct hsmca_issue_request req;
	struct hsmca_issued out;
	struct hsmca_session *s = NULL;
	hsmca_error err = { "", 0 };
	const char *csr_path = NULL, *out_path = NULL, *ca = NULL;
	uint8_t *csr = NULL;
	size_t csr_len = 0, n_sans = 0;
	char *pem = NULL;
	size_t pem_len = 0;
	int c, ret = CLI_FAIL;

	memset(&req, 0, sizeof(req));
	memset(&out, 0, sizeof(out));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': csr_path = optarg; break;
		case 'p': req.profile = optarg; break;
		case 'o': out_path = optarg; break;
		case 'V':
			if (hsmca_parse_duration(optarg, "--validity", &req.validity, &err) != 0)
				return cli_usage("sign", "sign: %s", err.msg);
			break;
		case 's':
			if (n_sans == HSMCA_ISSUE_MAX_SANS)
				return cli_usage("sign", "sign: more than %d --san", HSMCA_ISSUE_MAX_SANS);
			sans[n_sans++] = optarg;
			break;
		case 'S': req.subject = optarg; break;
		case 'C': chain_out = optarg; break;
		case 'F': fullchain = true; break;
		case 'h':
			cli_print_synopsis(stdout, "sign");
			puts("\nSigns one CSR (PEM or DER) with CA in the token, under a profile\n"
			     "('hsmca profiles list'). The profile decides subject fields, usages, SAN\n"
			     "kinds and maximum validity; --subject may set CN and O where the profile\n"
			     "lets the request choose them. The certificate is linted, verified and\n"
			     "recorded before it is written (stdout when no --out).\n"
			     "  --chain-out FILE  also write the issuing CA's chain up to, not including,\n"
			     "                    the root (PEM)\n"
			     "  --fullchain       write the certificate followed by that chain");
			return CLI_OK;
		default: return cli_usage("sign", "sign: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		ca = argv[optind++];
	if (optind < argc)
		return cli_usage("sign", "sign: unexpected argument '%s'", argv[optind]);
	if (!ca || !csr_path || !req.profile)
		return cli_usage("sign", "sign: CA, --csr and --profile are required");
	/* A certificate that is signed is recorded: the output must be writable
	 * before anything is. */
	if (out_path && hsmca_outcheck_file(out_path, true, &err) != 0)
		return cli_failf("sign: nothing was signed: %s", err.msg);
	if (hsmca_read_file(csr_path, HSMCA_CSR_MAX, &csr, &csr_len, &err) != 0)
		return cli_failf("sign: CSR %s: %s", csr_path, err.msg);
	if (cli_open(&s, true) != 0)
		goto out;
	req.ca = ca;
	req.csr = csr;
	req.csr_len = csr_len;
	req.sans = sans;
	req.n_sans = n_sans;
	if (hsmca_issue_one(s, &req, &out, &err) != 0) {
		cli_failf("sign: CSR %s refused: %s", csr_path, err.msg);
		goto out;
	}
	pem = hsmca_pem_encode("CERTIFICATE", out.der, out.der_len, &pem_len);
	if (!pem) {
		cli_failf("sign: out of memory");
		goto out;
	}
	if ((chain_out || fullchain) && cli_write_chain("sign", s->home, ca, chain_out, fullchain,
							&pem, &pem_len) != 0)
		goto out;
	if (out_path) {
		if (hsmca_write_atomic(out_path, pem, pem_len, 0644, &err) != 0) {
			cli_failf("sign: certificate %s was issued and recorded but not written: %s "
				  "(the record keeps its serial)", out_path, err.msg);
			goto out;
		}
	} else {
		fwrite(pem, 1, pem_len, stdout);
	}
	{
		char serial[41], na[21];

		hsmca_hex(out.serial, out.serial_len, serial);
		hsmca_format_time(out.not_after, na);
		if (cli.json && out_path) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "serial", json_object_new_string(serial));
			json_object_object_add(o, "subject", json_object_new_string(out.subject));
			json_object_object_add(o, "not_after", json_object_new_string(na));
			json_object_object_add(o, "file", json_object_new_string(out_path));
			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
			json_object_put(o);
		} else {
			cli_info("hsmca: issued %s serial %s, valid until %s, profile %s%s%s%s\n", out.subject,
				 serial, na, req.profile, out_path ? ", written to " : "",
				 out_path ? out_path : "", "");
			if (out.note[0])
				cli_info("hsmca: note: %s\n", out.note);
		}
	}
	ret = CLI_OK;
out:
	free(pem);
	free(csr);
	hsmca_issued_clear(&out);
	cli_close(s);
	return ret;
}
