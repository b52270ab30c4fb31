/* hsmca audit verify [--anchor F] | checkpoint | export | key init */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "audit/audit.h"
#include "audit/checkpoint.h"
#include "common/fsutil.h"

int cli_checkpoint(struct hsmca_session *s)
{
	struct hsmca_checkpoint cp;
	hsmca_error err = { "", 0 };
	bool exists = false;

	if (hsmca_key_label_exists(s->token, HSMCA_AUDIT_KEY_LABEL, &exists, &err) != 0)
		return cli_fail(&err);
	if (!exists) {
		cli_info("hsmca: note: no audit key in the token, so no signed checkpoint was made "
			 "(run 'hsmca audit key init')\n");
		return 0;
	}
	if (hsmca_checkpoint_sign(s->token, s->home, s->audit, &cp, &err) != 0) {
		fprintf(stderr, "hsmca: audit checkpoint: %s\n", err.msg);
		return CLI_FAIL;
	}
	/* Quiet unless -v: ceremonies print what they did, not their bookkeeping. */
	cli_verbose("hsmca: audit checkpoint %zu signed in the token: line %zu, hash %.16s…\n",
		    cp.number, cp.seq, cp.hash);
	return 0;
}

static int resolve_home(char *home, size_t len, const char *what)
{
	hsmca_error err = { "", 0 };

	if (hsmca_home_resolve(cli.home, home, len, &err) != 0)
		return cli_fail(&err);
	if (!hsmca_config_exists(home))
		return cli_failf("%s: %s is not an hsmca state directory", what, home);
	return 0;
}

static int audit_verify(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], path[PATH_MAX], anchor_path[PATH_MAX];
	const char *anchor = NULL;
	size_t lines = 0, bad = 0, ncp = 0;
	EVP_PKEY *key = NULL;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--anchor") == 0 && i + 1 < argc)
			anchor = argv[++i];
		else if (strncmp(argv[i], "--anchor=", 9) == 0)
			anchor = argv[i] + 9;
		else
			return cli_usage("audit", "audit verify: unexpected argument '%s'", argv[i]);
	}
	if (resolve_home(home, sizeof(home), "audit verify") != 0 ||
	    hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0)
		return CLI_FAIL;
	/* Checkpoints are verified when there are any, or when asked. */
	if (!anchor) {
		if (hsmca_path_join(anchor_path, sizeof(anchor_path), &err, "%s/audit-key.pem", home) != 0)
			return cli_fail(&err);
		if (access(anchor_path, F_OK) == 0)
			anchor = anchor_path;
	}
	if (anchor) {
		if (hsmca_checkpoint_load_anchor(anchor, &key, &err) != 0)
			return cli_failf("audit verify: %s", err.msg);
		rc = hsmca_checkpoint_verify_log(home, key, &ncp, &lines, &bad, &err);
		EVP_PKEY_free(key);
	} else {
		rc = hsmca_audit_verify(path, &lines, &bad, &err);
	}
	if (cli.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "log", json_object_new_string(path));
		json_object_object_add(o, "ok", json_object_new_boolean(rc == 0));
		json_object_object_add(o, "lines", json_object_new_int64((int64_t)lines));
		json_object_object_add(o, "checkpoints", json_object_new_int64((int64_t)ncp));
		if (rc != 0) {
			json_object_object_add(o, "first_bad_line", json_object_new_int64((int64_t)bad));
			json_object_object_add(o, "error", json_object_new_string(err.msg));
		}
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	}
	if (rc != 0) {
		if (!cli.json)
			fprintf(stderr, "hsmca: audit log %s: %s\n", path, err.msg);
		return CLI_FAIL;
	}
	if (!cli.json) {
		printf("audit log %s: %zu line%s, hash chain intact", path, lines, lines == 1 ? "" : "s");
		if (anchor)
			printf("; %zu signed checkpoint%s verified with %s", ncp, ncp == 1 ? "" : "s",
			       anchor);
		putchar('\n');
	}
	return CLI_OK;
}

static int audit_checkpoint(int argc, char **argv)
{
	struct hsmca_session *s = NULL;
	int ret;

	if (argc > 1)
		return cli_usage("audit", "audit checkpoint: unexpected argument '%s'", argv[1]);
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	{
		bool exists = false;

		hsmca_key_label_exists(s->token, HSMCA_AUDIT_KEY_LABEL, &exists, NULL);
		if (!exists)
			ret = cli_failf("audit checkpoint: the token holds no audit key (run 'hsmca "
					"audit key init')");
		else if ((ret = cli_checkpoint(s)) == 0)
			printf("audit checkpoint signed in the token (%s/audit.checkpoints)\n", s->home);
	}
	cli_close(s);
	return ret;
}

static int audit_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },  { NULL, 0, NULL, 0 },
	};
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], *end;
	const char *out = NULL;
	long from = 0, to = 0;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = strtol(optarg, &end, 10); if (*end) from = -1; break;
		case 't': to = strtol(optarg, &end, 10); if (*end) to = -1; break;
		case 'o': out = optarg; break;
		default: return cli_usage("audit", "audit export: unknown or incomplete option '%s'",
					  argv[optind - 1]);
		}
	}
	if (optind < argc || !out || from < 1 || to < from)
		return cli_usage("audit", "audit export: give --from N --to M (1 <= N <= M) and --out F");
	if (resolve_home(home, sizeof(home), "audit export") != 0)
		return CLI_FAIL;
	if (hsmca_checkpoint_export(home, (size_t)from, (size_t)to, out, &err) != 0)
		return cli_failf("audit export: %s", err.msg);
	printf("wrote %s: audit lines %ld.. and the checkpoint covering line %ld\n", out, from, to);
	return CLI_OK;
}

static int audit_verify_excerpt(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	struct hsmca_checkpoint cp;
	EVP_PKEY *key = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, first = 0, last = 0;
	int ret = CLI_FAIL;

	if (argc != 4 || strcmp(argv[2], "--anchor") != 0)
		return cli_usage("audit", "audit verify-export FILE --anchor audit-key.pem");
	if (hsmca_read_file(argv[1], 64u << 20, &buf, &len, &err) != 0 ||
	    hsmca_checkpoint_load_anchor(argv[3], &key, &err) != 0 ||
	    hsmca_checkpoint_verify_excerpt((const char *)buf, len, key, &cp, &first, &last, &err) != 0) {
		cli_failf("audit verify-export %s: %s", argv[1], err.msg);
		goto out;
	}
	printf("%s: audit lines %zu..%zu chain to checkpoint %zu (signed %s by token %s)\n", argv[1],
	       first, last, cp.number, cp.time, cp.token);
	ret = CLI_OK;
out:
	free(buf);
	EVP_PKEY_free(key);
	return ret;
}

static int audit_key(int argc, char **argv)
{
	struct hsmca_session *s = NULL;
	hsmca_error err = { "", 0 };
	int ret = CLI_FAIL;

	if (argc != 2 || strcmp(argv[1], "init") != 0)
		return cli_usage("audit", "audit key: the only action is 'init'");
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_checkpoint_key_init(s->token, s->home, s->audit, &err) != 0) {
		cli_failf("audit key init: %s", err.msg);
		goto out;
	}
	printf("generated the audit key %s in the token; public key in %s/audit-key.pem (copy it "
	       "off this host: it is the anchor for 'audit verify --anchor')\n",
	       HSMCA_AUDIT_KEY_LABEL, s->home);
	ret = cli_checkpoint(s) == 0 ? CLI_OK : CLI_FAIL;
out:
	cli_close(s);
	return ret;
}

int cmd_audit(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "audit");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "verify") == 0)
		return audit_verify(argc - 1, argv + 1);
	if (strcmp(argv[1], "checkpoint") == 0)
		return audit_checkpoint(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return audit_export(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify-export") == 0)
		return audit_verify_excerpt(argc - 1, argv + 1);
	if (strcmp(argv[1], "key") == 0)
		return audit_key(argc - 1, argv + 1);
	return cli_usage("audit", "audit: unknown action '%s'", argv[1]);
}
