/* hsmca: the command table, global options and dispatch. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

static const struct cli_command commands[] = {
	{ "init", cmd_init,
	  "init [--softhsm | --tpm [--tcti TCTI]] [--label L] [--so-pin-source SRC] "
	  "[--pin-shares M/N --shares-out DIR]",
	  "create the state directory and its token" },
	{ "token", cmd_token, "token list | token init --label L [--so-pin-source SRC]",
	  "list tokens of the module, or initialise one" },
	{ "key", cmd_key,
	  "key generate --label L --type T | key list | key show LABEL|URI | key destroy LABEL|URI --yes",
	  "manage keys held in the token" },
	{ "ca", cmd_ca,
	  "ca init NAME --key-type T --subject DN [--validity 10y] [--path-len N] [--config FILE] "
	  "[--crl-url URL] [--issuer-url URL] [--csr-out FILE | --issuer PARENT] | "
	  "ca import NAME --cert FILE --chain FILE | "
	  "ca cross-sign SIGNER {SUBJECT | --subject-cert FILE} --out FILE [--validity D] | "
	  "ca list | ca show NAME [--pem | --chain]",
	  "run a root CA ceremony; make, import and cross-sign intermediates; list and show CAs" },
	{ "sign", cmd_sign,
	  "sign CA --csr FILE --profile P [--out FILE] [--validity D] [--san DNS:…|IP:…|URI:…] "
	  "[--subject DN]",
	  "issue one certificate from a CSR, signed in the token" },
	{ "issue", cmd_issue,
	  "issue CA --profile P --csr-dir DIR --out-dir DIR [--jobs N] [--validity D]",
	  "issue certificates for a directory of CSRs" },
	{ "profiles", cmd_profiles, "profiles list | profiles show P",
	  "list and show certificate profiles" },
	{ "bench", cmd_bench, "bench issue [--count N] [--jobs N] [--key-type T] [--csr-key T]",
	  "measure issuance against the token's raw signing rate" },
	{ "certs", cmd_certs, "certs list [CA] [--json]", "list the certificates a CA issued" },
	{ "revoke", cmd_revoke, "revoke CA SERIAL [--reason R]", "revoke an issued certificate" },
	{ "crl", cmd_crl, "crl CA [--next-update D] [--out FILE]",
	  "sign a CRL in the token and verify it" },
	{ "check", cmd_check, "check [--warn 90d] [--grace 30d] [--all] [--json] [--metrics FILE]",
	  "report CAs and certificates that expire within the window (exit 1 if any)" },
	{ "audit", cmd_audit,
	  "audit verify [--anchor audit-key.pem] | audit checkpoint | audit key init | "
	  "audit export --from N --to M --out F | audit verify-export F --anchor audit-key.pem",
	  "verify the audit log and its signed checkpoints; sign a checkpoint; export an excerpt" },
	{ "bundle", cmd_bundle,
	  "bundle request --ca NAME --profile P --csr-dir D --out req.bundle [--validity D] "
	  "[--note TEXT] | bundle sign req.bundle --out resp.bundle [--yes] | "
	  "bundle verify resp.bundle --anchor root.pem [--request req.bundle] "
	  "[--audit-anchor audit-key.pem] | bundle import resp.bundle --anchor root.pem "
	  "--out-dir D [--request req.bundle]",
	  "carry CSRs to an air-gapped CA and signed certificates back, verifiably" },
	{ "pin", cmd_pin, "pin split --shares M/N --out DIR [--so-pin-source SRC]",
	  "split the token's PINs into M-of-N custodian shares" },
	{ "rotate-ca", cmd_rotate_ca,
	  "[-f nodes/node.yaml] rotate-ca [--talos=true|false] [--kubernetes=true|false] "
	  "[--dry-run=true|false] [--nodes IP,…] [--endpoints IP,…] [--control-plane-nodes IP,…] "
	  "[--worker-nodes IP,…] [--talosconfig FILE] [--context NAME] [--key-type T] "
	  "[--output FILE] [--kubeconfig FILE] [--kube-context NAME] [--k8s-endpoint URL] "
	  "[--k8s-node-endpoints URL,…] [--kubeconfig-output FILE] [--parallel N] "
	  "[--resume | --abort]",
	  "rotate the Talos and/or Kubernetes API access CA held in the token (dry run unless "
	  "--dry-run=false)" },
	{ "rotate", cmd_rotate, "rotate status", "show the rotation journal and the current access CA" },
	{ "talos", cmd_talos,
	  "talos issue-config --role os:admin|os:operator|os:reader|os:etcd:backup --out FILE "
	  "[--context NAME] [--talosconfig FILE]",
	  "write a talosconfig signed by the current Talos access CA" },
	{ "kube", cmd_kube,
	  "kube issue-config --user NAME [--group G]… [--admin] --out FILE [--server URL] "
	  "[--kubeconfig FILE] [--context NAME] [--validity D]",
	  "write a kubeconfig signed by the current Kubernetes access CA" },
	{ "tenant", cmd_tenant,
	  "tenant rotate-ca --name NAME --namespace NS [--kubeconfig FILE] "
	  "[--kamaji-namespace cozy-kamaji] [--method delete|annotate] [--out FILE] [--timeout D] "
	  "[--lease-duration D] [--keep-front-proxy-ca] [--no-wait-workers] [--dry-run=true|false] [--resume|--abort]",
	  "rotate a Kamaji tenant control plane's CA and fetch its new admin kubeconfig" },
};

void cli_print_synopsis(FILE *f, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			fprintf(f, "usage: hsmca [global options] %s\n", commands[i].synopsis);
}

static void usage(FILE *f)
{
	size_t i;

	fputs("usage: hsmca [--home DIR] [--module PATH|NAME] [--token URI] [--pin-source SRC]\n"
	      "             [--json] [-q|-v] COMMAND [ARGS]\n\n"
	      "Keeps CA keys inside a PKCS#11 token or TPM and signs certificates in the device.\n\n"
	      "Commands:\n",
	      f);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\nGlobal options:\n"
	      "  --home DIR          state directory (default $HSMCA_HOME, else ~/.local/share/hsmca)\n"
	      "  --module PATH|NAME  PKCS#11 module: a .so path or a p11-kit module name\n"
	      "  --token URI         RFC 7512 URI of the token (pkcs11:token=...)\n"
	      "  --pin-source SRC    user PIN from file:PATH, env:VAR, shares:DIR or shares:tty\n"
	      "                      (never from the command line)\n"
	      "  --json              machine-readable output for list/show commands\n"
	      "  -q, -v              quieter / more verbose\n"
	      "  -h, --help          this help; 'hsmca COMMAND --help' for a command\n"
	      "  --version           print the version\n\n"
	      "Exit status: 0 success, 1 the operation failed, 2 usage error.\n"
	      "See hsmca(1).\n",
	      f);
}

/* Take the value of a global option given as "--opt VALUE" or "--opt=VALUE". */
static bool take(const char *name, int argc, char **argv, int *i, const char **out, int *bad)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0)
		return false;
	if (a[n] == '=') {
		*out = a + n + 1;
		return true;
	}
	if (a[n] != '\0')
		return false;
	if (*i + 1 >= argc) {
		fprintf(stderr, "hsmca: option %s needs a value\n", name);
		*bad = 1;
		return true;
	}
	*out = argv[++*i];
	return true;
}

int main(int argc, char **argv)
{
	int i, bad = 0;
	size_t c;

	if (cli_argv_has_pin(argc, argv)) {
		fputs("hsmca: PINs are never taken from the command line (they would show in ps and "
		      "shell history); use --pin-source file:PATH or env:VAR, or enter the PIN at the "
		      "prompt\n",
		      stderr);
		return CLI_USAGE;
	}
	if (cli_argv_has_pin_value(argc, argv)) {
		fputs("hsmca: a PKCS#11 URI with pin-value puts the PIN on the command line; use "
		      "pin-source=file:PATH in the URI or --pin-source\n",
		      stderr);
		return CLI_USAGE;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-')
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return CLI_OK;
		}
		if (strcmp(a, "--version") == 0) {
			printf("hsmca %s\n", HSMCA_VERSION);
			return CLI_OK;
		}
		if (strcmp(a, "--json") == 0) {
			cli.json = true;
			continue;
		}
		if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			cli.verbosity = -1;
			continue;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			cli.verbosity = 1;
			continue;
		}
		if (take("--home", argc, argv, &i, &cli.home, &bad) ||
		    take("--module", argc, argv, &i, &cli.module, &bad) ||
		    take("--token", argc, argv, &i, &cli.token, &bad) ||
		    take("--pin-source", argc, argv, &i, &cli.pin_source, &bad) ||
		    take("-f", argc, argv, &i, &cli.node_file, &bad) ||
		    take("--file", argc, argv, &i, &cli.node_file, &bad)) {
			if (bad)
				return CLI_USAGE;
			continue;
		}
		fprintf(stderr, "hsmca: unknown global option '%s'\n", a);
		usage(stderr);
		return CLI_USAGE;
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	{
		/* A mistyped test clock must not silently become the real one. */
		const char *fake = getenv("HSMCA_NOW");
		time_t t;
		hsmca_error err = { "", 0 };

		if (fake && *fake && hsmca_parse_time(fake, "HSMCA_NOW", &t, &err) != 0) {
			fprintf(stderr, "hsmca: %s\n", err.msg);
			return CLI_USAGE;
		}
	}
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strcmp(commands[c].name, argv[i]) == 0)
			return commands[c].fn(argc - i, argv + i);
	fprintf(stderr, "hsmca: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return CLI_USAGE;
}
