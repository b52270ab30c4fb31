/* hsmca profiles list | profiles show P */
#include "cli/cli.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "state/config.h"
#include "issue/profile.h"

static json_object *profile_json(const struct hsmca_profile_def *p)
{
	json_object *o = json_object_new_object(), *arr;
	char buf[256];
	int i;

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "description", json_object_new_string(p->description));
	json_object_object_add(o, "ca", json_object_new_boolean(p->is_ca));
	if (p->is_ca)
		json_object_object_add(o, "path_len", json_object_new_int(p->path_len));
	hsmca_ku_format(p->key_usage, buf, sizeof(buf));
	json_object_object_add(o, "key_usage", json_object_new_string(buf));
	hsmca_eku_format(p->ext_key_usage, buf, sizeof(buf));
	json_object_object_add(o, "extended_key_usage", json_object_new_string(buf));
	json_object_object_add(o, "max_validity_days", json_object_new_int64(p->max_validity / 86400));
	json_object_object_add(o, "default_validity_days",
			       json_object_new_int64(p->default_validity / 86400));
	hsmca_san_kinds_format(p->san_kinds, buf, sizeof(buf));
	json_object_object_add(o, "san_allowed", json_object_new_string(buf));
	json_object_object_add(o, "san_required", json_object_new_boolean(p->require_san));
	json_object_object_add(o, "subject_cn", json_object_new_string(p->subject_cn[0] ? p->subject_cn
											 : "(from the request)"));
	arr = json_object_new_array();
	for (i = 0; i < p->n_subject_o; i++)
		json_object_array_add(arr, json_object_new_string(p->subject_o[i]));
	json_object_object_add(o, "subject_o", arr);
	json_object_object_add(o, "o_from_request", json_object_new_boolean(p->o_from_csr));
	json_object_object_add(o, "min_rsa_bits", json_object_new_int(p->min_rsa_bits));
	return o;
}

static void profile_print(const struct hsmca_profile_def *p)
{
	char buf[256];
	int i;

	printf("profile %s\n  %s\n", p->name, p->description);
	if (p->is_ca)
		printf("  CA:                  yes, pathLen %d\n", p->path_len);
	else
		printf("  CA:                  no (leaf)\n");
	hsmca_ku_format(p->key_usage, buf, sizeof(buf));
	printf("  key usage:           %s%s\n", buf,
	       !p->is_ca && (p->key_usage & HSMCA_KU_DIGITAL_SIGNATURE) ? " (+keyEncipherment for RSA)" : "");
	hsmca_eku_format(p->ext_key_usage, buf, sizeof(buf));
	printf("  extended key usage:  %s\n", buf);
	printf("  subject CN:          %s\n", p->subject_cn[0] ? p->subject_cn : "from the request");
	printf("  subject O:           ");
	if (p->n_subject_o)
		for (i = 0; i < p->n_subject_o; i++)
			printf("%s%s", i ? ", " : "", p->subject_o[i]);
	else
		printf("%s", p->o_from_csr ? "from the request" : "none");
	hsmca_san_kinds_format(p->san_kinds, buf, sizeof(buf));
	printf("\n  SANs allowed:        %s%s\n", buf, p->require_san ? " (at least one required)" : "");
	printf("  validity:            default %lld days, max %lld days (never past the issuer)\n",
	       (long long)(p->default_validity / 86400), (long long)(p->max_validity / 86400));
	printf("  keys accepted:       P-256, P-384, Ed25519, RSA >= %d\n", p->min_rsa_bits);
}

int cmd_profiles(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	char home[PATH_MAX];
	struct hsmca_profile_def *list = NULL, one;
	size_t n = 0, i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "profiles");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (cli_wants_help(argc - 1, argv + 1) && strcmp(argv[1], "generate") != 0 &&
	    strcmp(argv[1], "init") != 0) {
		cli_print_synopsis(stdout, "profiles");
		return CLI_OK;
	}
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0)
		return cli_fail(&err);
	if (strcmp(argv[1], "list") == 0) {
		if (argc > 2)
			return cli_usage("profiles", "profiles list: unexpected argument '%s'", argv[2]);
		if (hsmca_profile_list(home, &list, &n, &err) != 0)
			return cli_fail(&err);
		if (cli.json) {
			json_object *arr = json_object_new_array();

			for (i = 0; i < n; i++)
				json_object_array_add(arr, profile_json(&list[i]));
			puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
			json_object_put(arr);
		} else {
			for (i = 0; i < n; i++)
				printf("%-30s %s%s\n", list[i].name, list[i].description,
				       i >= hsmca_profile_builtin_count() ? " (custom)" : "");
		}
		free(list);
		return CLI_OK;
	}
	if (strcmp(argv[1], "show") == 0) {
		if (argc != 3)
			return cli_usage("profiles", "profiles show: give exactly one profile name");
		if (hsmca_profile_get(home, argv[2], &one, &err) != 0)
			return cli_fail(&err);
		if (cli.json) {
			json_object *o = profile_json(&one);

			puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
			json_object_put(o);
		} else {
			profile_print(&one);
		}
		return CLI_OK;
	}
	return cli_usage("profiles", "profiles: unknown action '%s'", argv[1]);
}
