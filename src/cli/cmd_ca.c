/* hsmca ca init | list | show */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ca/ca.h"
#include "ca/ceremony.h"
#include "common/util.h"
#include "x509/x509.h"

static void ca_serial(const struct hsmca_ca *ca, char *out, size_t outlen)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(ca->x509);
	int n = ASN1_STRING_length(s);

	if ((size_t)n * 2 + 1 > outlen)
		n = (int)(outlen - 1) / 2;
	hsmca_hex(ASN1_STRING_get0_data(s), (size_t)n, out);
}

static json_object *ca_json(const struct hsmca_ca *ca)
{
	json_object *o = json_object_new_object();
	char serial[41], nb[21], na[21];

	ca_serial(ca, serial, sizeof(serial));
	hsmca_format_time(ca->not_before, nb);
	hsmca_format_time(ca->not_after, na);
	json_object_object_add(o, "name", json_object_new_string(ca->name));
	json_object_object_add(o, "kind", json_object_new_string(ca->kind));
	json_object_object_add(o, "subject", json_object_new_string(ca->subject));
	json_object_object_add(o, "serial", json_object_new_string(serial));
	json_object_object_add(o, "not_before", json_object_new_string(nb));
	json_object_object_add(o, "not_after", json_object_new_string(na));
	json_object_object_add(o, "sha256_fingerprint", json_object_new_string(ca->fingerprint));
	json_object_object_add(o, "signature", json_object_new_string(hsmca_sigalg_name(ca->sigalg)));
	json_object_object_add(o, "key_label", json_object_new_string(ca->key_label));
	json_object_object_add(o, "key_uri", json_object_new_string(ca->key_uri));
	json_object_object_add(o, "parent", json_object_new_string(ca->parent));
	json_object_object_add(o, "created", json_object_new_string(ca->created));
	return o;
}

static void ca_print(const struct hsmca_ca *ca)
{
	char serial[41], nb[21], na[21];

	ca_serial(ca, serial, sizeof(serial));
	hsmca_format_time(ca->not_before, nb);
	hsmca_format_time(ca->not_after, na);
	printf("CA %s (%s)\n  subject:     %s\n  serial:      %s\n  validity:    %s .. %s\n"
	       "  signature:   %s\n  sha256:      %s\n  key:         %s\n  certificate: %s/ca.pem\n",
	       ca->name, ca->kind, ca->subject, serial, nb, na, hsmca_sigalg_name(ca->sigalg),
	       ca->fingerprint, ca->key_uri, ca->dir);
}

static void usage_ca_init(void)
{
	cli_print_synopsis(stdout, "ca");
	puts("\nca init NAME: a root ceremony. The key is generated in the token (verified\n"
	     "non-extractable), the certificate is linted, signed in the token, verified.\n"
	     "  --key-type T      ec-p256 | ec-p384 | ed25519 | rsa-3072 | rsa-4096\n"
	     "  --subject DN      RFC 4514, e.g. \"CN=Talos Access Root,O=Example\"\n"
	     "  --validity D      e.g. 10y (default), 3650d\n"
	     "  --not-after DATE  YYYY-MM-DD[THH:MM:SSZ] instead of --validity\n"
	     "  --path-len N      basicConstraints pathLenConstraint (default: none)\n"
	     "  --label L         key label in the token (default NAME-key)\n"
	     "  --rsa-pss         RSASSA-PSS signatures (RSA keys)\n"
	     "  --hash H          sha256 | sha384\n"
	     "  --out FILE        also write the certificate PEM to FILE\n"
	     "  --config FILE     take all of the above from a reviewed ceremony file\n"
	     "                    (then no other ceremony flag may be given)");
}

static int ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-type", required_argument, NULL, 't' }, { "subject", required_argument, NULL, 's' },
		{ "validity", required_argument, NULL, 'V' }, { "not-after", required_argument, NULL, 'A' },
		{ "path-len", required_argument, NULL, 'p' }, { "label", required_argument, NULL, 'l' },
		{ "rsa-pss", no_argument, NULL, 'P' },	       { "hash", required_argument, NULL, 'H' },
		{ "out", required_argument, NULL, 'o' },      { "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },	       { NULL, 0, NULL, 0 },
	};
	struct hsmca_ceremony cer;
	struct hsmca_session *s = NULL;
	struct hsmca_ca *ca = NULL;
	hsmca_error err = { "", 0 };
	const char *config = NULL, *name = NULL;
	int c, flags = 0, ret = CLI_FAIL;

	memset(&cer, 0, sizeof(cer));
	cer.path_len = -1;
	cer.validity = HSMCA_CEREMONY_DEFAULT_VALIDITY;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't': snprintf(cer.key_type, sizeof(cer.key_type), "%s", optarg); flags++; break;
		case 's':
			if (strlen(optarg) >= sizeof(cer.subject))
				return cli_usage("ca", "ca init: --subject is too long");
			snprintf(cer.subject, sizeof(cer.subject), "%s", optarg);
			flags++;
			break;
		case 'V':
			if (hsmca_parse_duration(optarg, "--validity", &cer.validity, &err) != 0)
				return cli_usage("ca", "ca init: %s", err.msg);
			flags++;
			break;
		case 'A':
			if (hsmca_parse_time(optarg, "--not-after", &cer.not_after, &err) != 0)
				return cli_usage("ca", "ca init: %s", err.msg);
			flags++;
			break;
		case 'p': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 0 || v > 32)
				return cli_usage("ca", "ca init: --path-len must be an integer 0..32");
			cer.path_len = (int)v;
			flags++;
			break;
		}
		case 'l':
			if (strlen(optarg) >= sizeof(cer.key_label))
				return cli_usage("ca", "ca init: --label is too long");
			snprintf(cer.key_label, sizeof(cer.key_label), "%s", optarg);
			flags++;
			break;
		case 'P': cer.rsa_pss = true; flags++; break;
		case 'H':
			if (strcmp(optarg, "sha256") != 0 && strcmp(optarg, "sha384") != 0)
				return cli_usage("ca", "ca init: --hash must be sha256 or sha384");
			snprintf(cer.sig_hash, sizeof(cer.sig_hash), "%s", optarg);
			flags++;
			break;
		case 'o': snprintf(cer.out_cert, sizeof(cer.out_cert), "%s", optarg); flags++; break;
		case 'c': config = optarg; break;
		case 'h': usage_ca_init(); return CLI_OK;
		default: return cli_usage("ca", "ca init: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc)
		return cli_usage("ca", "ca init: unexpected argument '%s'", argv[optind]);
	if (config) {
		if (flags)
			return cli_usage("ca", "ca init: with --config, the ceremony file is the whole "
					       "specification; drop the other ceremony flags");
		if (hsmca_ceremony_load(config, &cer, &err) != 0)
			return cli_fail(&err);
		if (name && strcmp(name, cer.name) != 0)
			return cli_usage("ca", "ca init: NAME '%s' differs from ca.name '%s' in %s", name,
					 cer.name, config);
	} else {
		if (!name)
			return cli_usage("ca", "ca init: NAME is required");
		if (!cer.key_type[0] || !cer.subject[0])
			return cli_usage("ca", "ca init: --key-type and --subject are required (or --config)");
		if (hsmca_ca_name_check(name, &err) != 0)
			return cli_usage("ca", "ca init: %s", err.msg);
		snprintf(cer.name, sizeof(cer.name), "%s", name);
		if (!cer.key_label[0])
			snprintf(cer.key_label, sizeof(cer.key_label), "%s-key", name);
		if (cer.not_after)
			cer.validity = 0;
		if (!cer.sig_hash[0])
			snprintf(cer.sig_hash, sizeof(cer.sig_hash), "%s",
				 strcmp(cer.key_type, "ec-p384") == 0 ? "sha384" : "sha256");
		{
			enum hsmca_key_type kt;

			if (hsmca_key_type_parse(cer.key_type, &kt, &err) != 0)
				return cli_usage("ca", "ca init: %s", err.msg);
			if (cer.rsa_pss && kt != HSMCA_KEY_RSA_3072 && kt != HSMCA_KEY_RSA_4096)
				return cli_usage("ca", "ca init: --rsa-pss needs an RSA key type, not %s",
						 cer.key_type);
			if (strcmp(cer.sig_hash, "sha384") == 0 && kt == HSMCA_KEY_ED25519)
				return cli_usage("ca", "ca init: --hash does not apply to ed25519");
		}
	}
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_ca_create_root(s, &cer, &ca, &err) != 0) {
		cli_fail(&err);
		goto out;
	}
	if (cli.json) {
		json_object *o = ca_json(ca);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		ca_print(ca);
		printf("  checks:      key verified non-extractable; TBS linted; signature made in the\n"
		       "               token and verified before writing\n");
	}
	ret = cli_checkpoint(s) == 0 ? CLI_OK : CLI_FAIL;
out:
	hsmca_ca_free(ca);
	cli_close(s);
	return ret;
}

static int ca_list(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	char home[4096];
	char (*names)[64] = NULL;
	size_t n = 0, i;
	json_object *arr = NULL;
	int ret = CLI_OK;

	if (argc > 1)
		return cli_usage("ca", "ca list: unexpected argument '%s'", argv[1]);
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0 ||
	    hsmca_ca_names(home, &names, &n, &err) != 0)
		return cli_fail(&err);
	if (cli.json)
		arr = json_object_new_array();
	else
		printf("%-24s %-12s %-20s %s\n", "NAME", "KIND", "NOT AFTER", "SUBJECT");
	for (i = 0; i < n; i++) {
		struct hsmca_ca *ca = NULL;
		char na[21];

		if (hsmca_ca_load(home, names[i], &ca, &err) != 0) {
			cli_fail(&err);
			ret = CLI_FAIL;
			continue;
		}
		hsmca_format_time(ca->not_after, na);
		if (arr)
			json_object_array_add(arr, ca_json(ca));
		else
			printf("%-24s %-12s %-20s %s\n", ca->name, ca->kind, na, ca->subject);
		hsmca_ca_free(ca);
	}
	if (arr) {
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	}
	free(names);
	return ret;
}

static int ca_show(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	struct hsmca_ca *ca = NULL;
	char home[4096];
	bool pem = false;
	const char *name = NULL;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--pem") == 0)
			pem = true;
		else if (argv[a][0] == '-')
			return cli_usage("ca", "ca show: unknown option '%s'", argv[a]);
		else if (!name)
			name = argv[a];
		else
			return cli_usage("ca", "ca show: unexpected argument '%s'", argv[a]);
	}
	if (!name)
		return cli_usage("ca", "ca show: NAME is required");
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0 ||
	    hsmca_ca_load(home, name, &ca, &err) != 0)
		return cli_fail(&err);
	if (pem) {
		size_t len;
		char *text = hsmca_pem_encode("CERTIFICATE", ca->der, ca->der_len, &len);

		if (text)
			fwrite(text, 1, len, stdout);
		free(text);
	} else if (cli.json) {
		json_object *o = ca_json(ca);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		ca_print(ca);
	}
	hsmca_ca_free(ca);
	return CLI_OK;
}

int cmd_ca(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "ca");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (cli_wants_help(argc - 1, argv + 1) && strcmp(argv[1], "generate") != 0 &&
	    strcmp(argv[1], "init") != 0) {
		cli_print_synopsis(stdout, "ca");
		return CLI_OK;
	}
	if (strcmp(argv[1], "init") == 0)
		return ca_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return ca_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return ca_show(argc - 1, argv + 1);
	return cli_usage("ca", "ca: unknown action '%s'", argv[1]);
}
