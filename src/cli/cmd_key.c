/* hsmca key generate | list | show | destroy */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit/checkpoint.h"
#include "ca/ca.h"
#include "common/util.h"
#include "x509/x509.h"

static json_object *key_json(const struct hsmca_key_info *i, const char *uri)
{
	json_object *o = json_object_new_object();
	char id[2 * 64 + 1];

	hsmca_hex(i->id, i->id_len, id);
	json_object_object_add(o, "label", json_object_new_string(i->label));
	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "type", json_object_new_string(hsmca_key_type_name(i->type)));
	if (uri)
		json_object_object_add(o, "uri", json_object_new_string(uri));
	json_object_object_add(o, "sensitive", json_object_new_boolean(i->sensitive));
	json_object_object_add(o, "extractable", json_object_new_boolean(i->extractable));
	json_object_object_add(o, "always_sensitive", json_object_new_boolean(i->always_sensitive));
	json_object_object_add(o, "never_extractable", json_object_new_boolean(i->never_extractable));
	json_object_object_add(o, "local", json_object_new_boolean(i->local));
	json_object_object_add(o, "sign", json_object_new_boolean(i->sign));
	json_object_object_add(o, "decrypt", json_object_new_boolean(i->decrypt));
	json_object_object_add(o, "unwrap", json_object_new_boolean(i->unwrap));
	json_object_object_add(o, "derive", json_object_new_boolean(i->derive));
	json_object_object_add(o, "tpm_bound", json_object_new_boolean(i->tpm_bound));
	return o;
}

static const char *yn(bool v)
{
	return v ? "TRUE" : "FALSE";
}

static void key_print(const struct hsmca_key_info *i, const char *uri, const char *spki_fp)
{
	char id[2 * 64 + 1];
	bool proven = i->always_sensitive && i->never_extractable && i->local;

	hsmca_hex(i->id, i->id_len, id);
	printf("key %s\n  type:               %s\n  id:                 %s\n", i->label,
	       hsmca_key_type_name(i->type), id);
	if (uri)
		printf("  uri:                %s\n", uri);
	if (spki_fp)
		printf("  public key sha256:  %s\n", spki_fp);
	printf("  CKA_SENSITIVE:         %s\n  CKA_EXTRACTABLE:       %s\n"
	       "  CKA_ALWAYS_SENSITIVE:  %s\n  CKA_NEVER_EXTRACTABLE: %s\n  CKA_LOCAL:             %s\n"
	       "  usage: sign=%s decrypt=%s unwrap=%s derive=%s\n",
	       yn(i->sensitive), yn(i->extractable), yn(i->always_sensitive), yn(i->never_extractable),
	       yn(i->local), yn(i->sign), yn(i->decrypt), yn(i->unwrap), yn(i->derive));
	if (i->tpm_bound)
		printf("  binding: TPM-bound — generated inside the TPM (CKA_LOCAL) and never extractable;\n"
		       "           it can be used only through this TPM and cannot be copied\n");
	printf("  verdict: %s\n", proven ? "generated in the token, never extractable, always sensitive"
					 : "NOT PROVEN non-extractable (see attributes above)");
}

static int key_generate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' }, { "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },	   { NULL, 0, NULL, 0 },
	};
	const char *label = NULL, *type_s = NULL;
	enum hsmca_key_type type;
	struct hsmca_session *s = NULL;
	hsmca_key *k = NULL;
	hsmca_error err = { "", 0 };
	char uri[1024];
	int c, ret = CLI_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': label = optarg; break;
		case 't': type_s = optarg; break;
		case 'h': cli_print_synopsis(stdout, "key"); return CLI_OK;
		default: return cli_usage("key", "key generate: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (!label || !type_s)
		return cli_usage("key", "key generate: --label and --type are required");
	if (optind < argc)
		return cli_usage("key", "key generate: unexpected argument '%s'", argv[optind]);
	if (hsmca_key_type_parse(type_s, &type, &err) != 0)
		return cli_usage("key", "key generate: %s", err.msg);
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_key_generate(s->token, type, label, &k, &err) != 0) {
		const char *d[] = { "type", type_s, "reason", err.msg, NULL };

		hsmca_session_audit(s, "generate", label, "failed", d, NULL);
		cli_fail(&err);
		goto out;
	}
	if (hsmca_key_uri(k, uri, sizeof(uri), &err) != 0)
		goto fail;
	{
		const char *d[] = { "type", type_s, NULL };

		if (hsmca_session_audit(s, "generate", uri, "ok", d, &err) != 0)
			goto fail;
	}
	if (cli.json) {
		json_object *o = key_json(hsmca_key_get_info(k), uri);

		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		key_print(hsmca_key_get_info(k), uri, NULL);
	}
	ret = CLI_OK;
	goto out;
fail:
	cli_fail(&err);
out:
	hsmca_key_free(k);
	cli_close(s);
	return ret;
}

static int key_list(int argc, char **argv)
{
	struct hsmca_session *s = NULL;
	struct hsmca_key_info *list = NULL;
	hsmca_error err = { "", 0 };
	size_t n = 0, i;
	int ret = CLI_FAIL;

	if (argc > 1)
		return cli_usage("key", "key list: unexpected argument '%s'", argv[1]);
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_key_list(s->token, &list, &n, &err) != 0) {
		cli_fail(&err);
		goto out;
	}
	if (cli.json) {
		json_object *arr = json_object_new_array();

		for (i = 0; i < n; i++)
			json_object_array_add(arr, key_json(&list[i], NULL));
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	} else {
		printf("%-32s %-9s %-32s %s\n", "LABEL", "TYPE", "ID", "PROTECTION");
		for (i = 0; i < n; i++) {
			char id[2 * 64 + 1];
			bool proven = list[i].always_sensitive && list[i].never_extractable && list[i].local;

			hsmca_hex(list[i].id, list[i].id_len, id);
			printf("%-32s %-9s %-32s %s%s\n", list[i].label, hsmca_key_type_name(list[i].type), id,
			       proven ? "non-extractable" : "NOT PROVEN", list[i].tpm_bound ? ", TPM-bound" : "");
		}
		if (n == 0)
			printf("(no private keys on token '%s')\n", hsmca_token_get_info(s->token)->label);
	}
	ret = CLI_OK;
out:
	free(list);
	cli_close(s);
	return ret;
}

static int key_show(int argc, char **argv)
{
	struct hsmca_session *s = NULL;
	hsmca_key *k = NULL;
	hsmca_error err = { "", 0 };
	char uri[1024], fp[96];
	const uint8_t *spki;
	size_t spki_len;
	int ret = CLI_FAIL;

	if (argc != 2)
		return cli_usage("key", "key show: give exactly one LABEL or pkcs11: URI");
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_key_find(s->token, argv[1], &k, &err) != 0 || hsmca_key_uri(k, uri, sizeof(uri), &err) != 0) {
		cli_fail(&err);
		goto out;
	}
	hsmca_key_spki(k, &spki, &spki_len);
	hsmca_fingerprint(spki, spki_len, fp);
	if (cli.json) {
		json_object *o = key_json(hsmca_key_get_info(k), uri);

		json_object_object_add(o, "public_key_sha256", json_object_new_string(fp));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		key_print(hsmca_key_get_info(k), uri, fp);
	}
	ret = CLI_OK;
out:
	hsmca_key_free(k);
	cli_close(s);
	return ret;
}

static int key_destroy(int argc, char **argv)
{
	struct hsmca_session *s = NULL;
	hsmca_key *k = NULL;
	hsmca_error err = { "", 0 };
	const char *target = NULL;
	bool yes = false;
	char uri[1024];
	char (*names)[64] = NULL;
	size_t n = 0, i;
	int a, ret = CLI_FAIL;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--yes") == 0)
			yes = true;
		else if (argv[a][0] == '-' && argv[a][1])
			return cli_usage("key", "key destroy: unknown option '%s'", argv[a]);
		else if (!target)
			target = argv[a];
		else
			return cli_usage("key", "key destroy: unexpected argument '%s'", argv[a]);
	}
	if (!target)
		return cli_usage("key", "key destroy: give the LABEL or pkcs11: URI of the key");
	if (!yes)
		return cli_usage("key", "key destroy: destroying a key is irreversible; add --yes to confirm");
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_key_find(s->token, target, &k, &err) != 0 || hsmca_key_uri(k, uri, sizeof(uri), &err) != 0)
		goto fail;
	if (strcmp(hsmca_key_get_info(k)->label, HSMCA_AUDIT_KEY_LABEL) == 0) {
		hsmca_error_set(&err, "key destroy: '%s' is the audit key that signs checkpoints; "
				      "refusing to destroy it", HSMCA_AUDIT_KEY_LABEL);
		goto fail;
	}
	/* A live CA's key is retired by a rotation, never destroyed by hand. */
	if (hsmca_ca_names(s->home, &names, &n, &err) != 0)
		goto fail;
	for (i = 0; i < n; i++) {
		struct hsmca_ca *ca = NULL;

		if (hsmca_ca_load(s->home, names[i], &ca, NULL) == 0 &&
		    strcmp(ca->key_label, hsmca_key_get_info(k)->label) == 0) {
			hsmca_error_set(&err, "key destroy: '%s' is the key of CA '%s'; refusing to destroy "
					      "a CA key (rotate the CA instead)", hsmca_key_get_info(k)->label,
					names[i]);
			hsmca_ca_free(ca);
			goto fail;
		}
		hsmca_ca_free(ca);
	}
	if (hsmca_key_destroy(k, &err) != 0) {
		const char *d[] = { "reason", err.msg, NULL };

		hsmca_session_audit(s, "destroy", uri, "failed", d, NULL);
		goto fail;
	}
	if (hsmca_session_audit(s, "destroy", uri, "ok", NULL, &err) != 0)
		goto fail;
	printf("destroyed key %s\n", uri);
	ret = cli_checkpoint(s) == 0 ? CLI_OK : CLI_FAIL;
	goto out;
fail:
	cli_fail(&err);
out:
	free(names);
	hsmca_key_free(k);
	cli_close(s);
	return ret;
}

int cmd_key(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "key");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (cli_wants_help(argc - 1, argv + 1) && strcmp(argv[1], "generate") != 0 &&
	    strcmp(argv[1], "init") != 0) {
		cli_print_synopsis(stdout, "key");
		return CLI_OK;
	}
	if (strcmp(argv[1], "generate") == 0)
		return key_generate(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return key_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return key_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "destroy") == 0)
		return key_destroy(argc - 1, argv + 1);
	return cli_usage("key", "key: unknown action '%s'", argv[1]);
}
