/* hsmca ca init | import | cross-sign | list | show */
#include "cli/cli.h"

#include <getopt.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ca/ca.h"
#include "ca/ceremony.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "hier/hier.h"
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
	json_object_object_add(o, "crl_url", json_object_new_string(ca->crl_url));
	json_object_object_add(o, "issuer_url", json_object_new_string(ca->issuer_url));
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
	if (ca->parent[0])
		printf("  parent:      %s\n", ca->parent);
	if (ca->crl_url[0])
		printf("  crl url:     %s\n", ca->crl_url);
	if (ca->issuer_url[0])
		printf("  issuer url:  %s\n", ca->issuer_url);
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
	     "  --crl-url URL     CRL distribution point written into everything it issues\n"
	     "  --issuer-url URL  AIA caIssuers URL written into everything it issues\n"
	     "  --csr-out FILE    an intermediate for another CA: key in the token, a CSR\n"
	     "                    signed in the token to FILE; the CA stays pending until\n"
	     "                    'hsmca ca import NAME --cert FILE --chain FILE'\n"
	     "  --issuer PARENT   an intermediate signed at once by CA PARENT of this state\n"
	     "                    directory (pathLen below the parent's, validity clamped)\n"
	     "  --config FILE     take all of the above from a reviewed ceremony file\n"
	     "                    (then no other ceremony flag may be given)");
}

/* ca init --csr-out: the pending half of a two-token hierarchy. */
static int ca_init_csr(struct hsmca_session *s, const struct hsmca_ceremony *cer, const char *csr_out)
{
	hsmca_error err = { "", 0 };
	struct hsmca_der csr;
	char *pem = NULL;
	size_t pem_len = 0;
	int ret = CLI_FAIL;

	hsmca_der_init(&csr);
	if (access(csr_out, F_OK) == 0)
		return cli_failf("ca init %s: %s already exists; nothing was done", cer->name, csr_out);
	if (hsmca_hier_request(s, cer, &csr, &err) != 0) {
		cli_failf("ca init %s: %s", cer->name, err.msg);
		goto out;
	}
	pem = hsmca_pem_encode("CERTIFICATE REQUEST", csr.buf, csr.len, &pem_len);
	if (!pem || hsmca_write_atomic(csr_out, pem, pem_len, 0644, &err) != 0) {
		cli_failf("ca init %s: the CSR is kept in the CA directory as request.csr but %s was "
			  "not written: %s", cer->name, csr_out, pem ? err.msg : "out of memory");
		goto out;
	}
	cli_info("CA %s is pending: key generated in the token (verified non-extractable), CSR "
		 "signed in the token, written to %s.\nHave it signed (e.g. hsmca sign ROOT --csr %s "
		 "--profile intermediate-ca), then: hsmca ca import %s --cert FILE --chain FILE\n",
		 cer->name, csr_out, csr_out, cer->name);
	ret = CLI_OK;
out:
	free(pem);
	hsmca_der_free(&csr);
	return ret;
}

/* ca init --issuer PARENT: both halves in this state directory. */
static int ca_init_sub(struct hsmca_session *s, const struct hsmca_ceremony *cer, const char *parent)
{
	hsmca_error err = { "", 0 };
	struct hsmca_ca *ca = NULL;
	bool clamped = false;

	if (hsmca_hier_create_sub(s, cer, parent, &ca, &clamped, &err) != 0)
		return cli_failf("ca init %s --issuer %s: %s", cer->name, parent, err.msg);
	if (cli.json) {
		json_object *o = ca_json(ca);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		ca_print(ca);
		printf("  checks:      key verified non-extractable; signed in the token by %s; chain\n"
		       "               verified to its root before writing\n", parent);
	}
	if (clamped)
		cli_info("hsmca: note: notAfter clamped to CA %s's notAfter\n", parent);
	hsmca_ca_free(ca);
	return CLI_OK;
}

static int ca_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key-type", required_argument, NULL, 't' }, { "subject", required_argument, NULL, 's' },
		{ "validity", required_argument, NULL, 'V' }, { "not-after", required_argument, NULL, 'A' },
		{ "path-len", required_argument, NULL, 'p' }, { "label", required_argument, NULL, 'l' },
		{ "rsa-pss", no_argument, NULL, 'P' },	       { "hash", required_argument, NULL, 'H' },
		{ "out", required_argument, NULL, 'o' },      { "config", required_argument, NULL, 'c' },
		{ "csr-out", required_argument, NULL, 'R' },  { "issuer", required_argument, NULL, 'I' },
		{ "crl-url", required_argument, NULL, 'C' },  { "issuer-url", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },	       { NULL, 0, NULL, 0 },
	};
	const char *csr_out = NULL, *issuer = NULL;
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
		case 'R': csr_out = optarg; break;
		case 'I': issuer = optarg; break;
		case 'C':
		case 'U': {
			char *dst = c == 'C' ? cer.crl_url : cer.issuer_url;

			if (hsmca_url_check(optarg, c == 'C' ? "--crl-url" : "--issuer-url", &err) != 0)
				return cli_usage("ca", "ca init: %s", err.msg);
			snprintf(dst, sizeof(cer.crl_url), "%s", optarg);
			flags++;
			break;
		}
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
	if (csr_out && issuer)
		return cli_usage("ca", "ca init: --csr-out and --issuer are exclusive (CSR for another "
				       "CA, or signed here by PARENT)");
	if (csr_out && (cer.out_cert[0] || cer.not_after || cer.path_len >= 0))
		return cli_usage("ca", "ca init: with --csr-out the signing CA decides validity and "
				       "pathLen; drop --out, --not-after, --path-len");
	if (csr_out || issuer) {
		if (cli_open(&s, true) != 0)
			return CLI_FAIL;
		ret = csr_out ? ca_init_csr(s, &cer, csr_out) : ca_init_sub(s, &cer, issuer);
		if (ret == CLI_OK && cli_checkpoint(s) != 0)
			ret = CLI_FAIL;
		cli_close(s);
		return ret;
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

static int read_input(const char *what, const char *path, uint8_t **buf, size_t *len)
{
	hsmca_error err = { "", 0 };

	if (hsmca_read_file(path, 1024 * 1024, buf, len, &err) != 0)
		return cli_failf("%s %s: %s", what, path, err.msg);
	return 0;
}

static int ca_import(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	struct hsmca_session *s = NULL;
	struct hsmca_ca *ca = NULL;
	const char *name = NULL, *cert_path = NULL, *chain_path = NULL;
	uint8_t *cert = NULL, *chain = NULL;
	size_t cert_len = 0, chain_len = 0;
	int a, ret = CLI_FAIL;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--cert") == 0 && a + 1 < argc)
			cert_path = argv[++a];
		else if (strcmp(argv[a], "--chain") == 0 && a + 1 < argc)
			chain_path = argv[++a];
		else if (argv[a][0] == '-')
			return cli_usage("ca", "ca import: unknown or incomplete option '%s'", argv[a]);
		else if (!name)
			name = argv[a];
		else
			return cli_usage("ca", "ca import: unexpected argument '%s'", argv[a]);
	}
	if (!name || !cert_path || !chain_path)
		return cli_usage("ca", "ca import: NAME, --cert FILE and --chain FILE are required");
	if (read_input("ca import: --cert", cert_path, &cert, &cert_len) != 0 ||
	    read_input("ca import: --chain", chain_path, &chain, &chain_len) != 0 || cli_open(&s, true) != 0)
		goto out;
	if (hsmca_hier_import(s, name, cert, cert_len, chain, chain_len, &ca, &err) != 0) {
		cli_failf("ca import %s: refused, nothing changed: %s", name, err.msg);
		goto out;
	}
	if (cli.json) {
		json_object *o = ca_json(ca);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		ca_print(ca);
		printf("  checks:      the token key's certificate; CA:TRUE, keyCertSign; subject as\n"
		       "               requested; chain verified to its root; validity inside the issuer's\n");
	}
	ret = cli_checkpoint(s) == 0 ? CLI_OK : CLI_FAIL;
out:
	free(cert);
	free(chain);
	hsmca_ca_free(ca);
	cli_close(s);
	return ret;
}

static int ca_cross_sign(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	struct hsmca_session *s = NULL;
	struct hsmca_ca *subj = NULL;
	struct hsmca_der der;
	const char *signer = NULL, *subject = NULL, *subject_cert = NULL, *out_path = NULL;
	uint8_t *cert = NULL;
	size_t cert_len = 0, pem_len = 0;
	char *pem = NULL;
	int64_t validity = 0;
	int a, ret = CLI_FAIL;

	hsmca_der_init(&der);
	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--out") == 0 && a + 1 < argc) {
			out_path = argv[++a];
		} else if (strcmp(argv[a], "--subject-cert") == 0 && a + 1 < argc) {
			subject_cert = argv[++a];
		} else if (strcmp(argv[a], "--validity") == 0 && a + 1 < argc) {
			if (hsmca_parse_duration(argv[++a], "--validity", &validity, &err) != 0)
				return cli_usage("ca", "ca cross-sign: %s", err.msg);
		} else if (argv[a][0] == '-') {
			return cli_usage("ca", "ca cross-sign: unknown or incomplete option '%s'", argv[a]);
		} else if (!signer) {
			signer = argv[a];
		} else if (!subject) {
			subject = argv[a];
		} else {
			return cli_usage("ca", "ca cross-sign: unexpected argument '%s'", argv[a]);
		}
	}
	if (!signer || !out_path || (!subject == !subject_cert))
		return cli_usage("ca", "ca cross-sign: SIGNER, --out FILE and one of SUBJECT (a CA here) "
				       "or --subject-cert FILE are required");
	if (access(out_path, F_OK) == 0)
		return cli_failf("ca cross-sign: %s already exists; nothing was signed", out_path);
	if (subject_cert && read_input("ca cross-sign: --subject-cert", subject_cert, &cert, &cert_len) != 0)
		goto out;
	if (cli_open(&s, true) != 0)
		goto out;
	if (subject) {
		if (hsmca_ca_load(s->home, subject, &subj, &err) != 0) {
			cli_failf("ca cross-sign: %s", err.msg);
			goto out;
		}
		cert = malloc(subj->der_len);
		if (!cert) {
			cli_failf("ca cross-sign: out of memory");
			goto out;
		}
		memcpy(cert, subj->der, subj->der_len);
		cert_len = subj->der_len;
	}
	if (hsmca_hier_cross_sign(s, signer, cert, cert_len, validity, &der, &err) != 0) {
		cli_failf("ca cross-sign %s: %s", signer, err.msg);
		goto out;
	}
	pem = hsmca_pem_encode("CERTIFICATE", der.buf, der.len, &pem_len);
	if (!pem || hsmca_write_atomic(out_path, pem, pem_len, 0644, &err) != 0) {
		cli_failf("ca cross-sign: the cross certificate was signed and recorded but %s was not "
			  "written: %s", out_path, pem ? err.msg : "out of memory");
		goto out;
	}
	cli_info("hsmca: cross certificate for %s signed by CA %s (same key and SKI, AKI of %s), "
		 "written to %s\n", subject ? subject : subject_cert, signer, signer, out_path);
	ret = cli_checkpoint(s) == 0 ? CLI_OK : CLI_FAIL;
out:
	free(pem);
	free(cert);
	hsmca_der_free(&der);
	hsmca_ca_free(subj);
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
	free(names);
	names = NULL;
	if (hsmca_hier_pending_names(home, &names, &n, &err) != 0) {
		cli_fail(&err);
		ret = CLI_FAIL;
		n = 0;
	}
	for (i = 0; i < n; i++) {
		if (arr) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "name", json_object_new_string(names[i]));
			json_object_object_add(o, "kind", json_object_new_string("pending"));
			json_object_array_add(arr, o);
		} else {
			printf("%-24s %-12s %-20s %s\n", names[i], "pending", "-",
			       "(awaiting 'hsmca ca import')");
		}
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
	bool pem = false, chain = false;
	const char *name = NULL;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--pem") == 0)
			pem = true;
		else if (strcmp(argv[a], "--chain") == 0)
			chain = true;
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
	if (chain) {
		char *text = NULL;
		size_t len = 0;

		if (hsmca_hier_chain_pem(ca, &text, &len, &err) != 0) {
			hsmca_ca_free(ca);
			return cli_failf("ca show %s --chain: %s", name, err.msg);
		}
		if (len == 0)
			cli_info("hsmca: CA %s is a root: the chain up to (not including) the root is "
				 "empty\n", name);
		fwrite(text, 1, len, stdout);
		free(text);
	} else if (pem) {
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
	if (strcmp(argv[1], "import") == 0)
		return ca_import(argc - 1, argv + 1);
	if (strcmp(argv[1], "cross-sign") == 0)
		return ca_cross_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return ca_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return ca_show(argc - 1, argv + 1);
	return cli_usage("ca", "ca: unknown action '%s'", argv[1]);
}
