/* hsmca token list | token init */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static int token_list(void)
{
	struct hsmca_config cfg;
	hsmca_error err = { "", 0 };
	hsmca_module *m = NULL;
	struct hsmca_token_info *list = NULL;
	size_t n = 0, i;
	char home[4096];
	const char *module = cli.module;
	int ret = CLI_FAIL;

	/* token list works without a state directory when --module is given. */
	if (!module || !*module) {
		if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0 ||
		    hsmca_config_load(home, &cfg, &err) != 0)
			return cli_fail(&err);
		hsmca_config_apply_env(&cfg);
		module = cfg.module;
	} else if (hsmca_home_resolve(cli.home, home, sizeof(home), NULL) == 0 &&
		   hsmca_config_exists(home) && hsmca_config_load(home, &cfg, NULL) == 0) {
		hsmca_config_apply_env(&cfg);
	}
	if (hsmca_module_open(module, &m, &err) != 0 || hsmca_module_tokens(m, &list, &n, &err) != 0) {
		cli_fail(&err);
		goto out;
	}
	if (cli.json) {
		json_object *arr = json_object_new_array();

		for (i = 0; i < n; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "slot", json_object_new_int64((int64_t)list[i].slot));
			json_object_object_add(o, "label", json_object_new_string(list[i].label));
			json_object_object_add(o, "manufacturer", json_object_new_string(list[i].manufacturer));
			json_object_object_add(o, "model", json_object_new_string(list[i].model));
			json_object_object_add(o, "serial", json_object_new_string(list[i].serial));
			json_object_object_add(o, "initialized", json_object_new_boolean(list[i].initialized));
			json_object_object_add(o, "pin_locked", json_object_new_boolean(
						   (list[i].flags & CKF_USER_PIN_LOCKED) != 0));
			json_object_array_add(arr, o);
		}
		puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
	} else {
		printf("module %s (%s)\n", hsmca_module_path(m), hsmca_module_description(m));
		for (i = 0; i < n; i++) {
			printf("slot %-10lu %s\n", (unsigned long)list[i].slot,
			       list[i].initialized ? "" : "(uninitialised)");
			if (!list[i].initialized)
				continue;
			printf("  token:        %s\n  manufacturer: %s\n  model:        %s\n  serial:       %s\n",
			       list[i].label, list[i].manufacturer, list[i].model, list[i].serial);
			printf("  uri:          pkcs11:token=%s;serial=%s\n", list[i].label, list[i].serial);
			if (list[i].flags & CKF_USER_PIN_LOCKED)
				printf("  user PIN:     LOCKED\n");
			else if (list[i].flags & CKF_USER_PIN_FINAL_TRY)
				printf("  user PIN:     one try left\n");
			else if (list[i].flags & CKF_USER_PIN_COUNT_LOW)
				printf("  user PIN:     few tries left\n");
		}
	}
	ret = CLI_OK;
out:
	free(list);
	hsmca_module_close(m);
	return ret;
}

static int token_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "so-pin-source", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *label = NULL, *so_src = NULL, *module = cli.module;
	struct hsmca_pin so, user;
	struct hsmca_config cfg;
	hsmca_error err = { "", 0 };
	hsmca_module *m = NULL;
	CK_SLOT_ID slot;
	char home[4096];
	int c, ret = CLI_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': label = optarg; break;
		case 'o': so_src = optarg; break;
		case 'h': cli_print_synopsis(stdout, "token"); return CLI_OK;
		default: return cli_usage("token", "token init: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (!label)
		return cli_usage("token", "token init: --label is required");
	if (optind < argc)
		return cli_usage("token", "token init: unexpected argument '%s'", argv[optind]);
	if (!so_src)
		return cli_usage("token", "token init: --so-pin-source is required (file:PATH or env:VAR)");
	if (!cli.pin_source)
		return cli_usage("token", "token init: --pin-source (the new user PIN) is required");
	memset(&so, 0, sizeof(so));
	memset(&user, 0, sizeof(user));
	if (!module || !*module) {
		if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0 ||
		    hsmca_config_load(home, &cfg, &err) != 0)
			return cli_fail(&err);
		hsmca_config_apply_env(&cfg);
		module = cfg.module;
	}
	if (cli_read_new_pin(so_src, "SO PIN", &so, &err) != 0 ||
	    cli_read_new_pin(cli.pin_source, "user PIN", &user, &err) != 0 ||
	    hsmca_module_open(module, &m, &err) != 0 ||
	    hsmca_module_init_token(m, label, &so, &user, &slot, &err) != 0) {
		cli_fail(&err);
		goto out;
	}
	printf("initialised token '%s' in slot %lu\n  uri: pkcs11:token=%s\n", label, (unsigned long)slot,
	       label);
	ret = CLI_OK;
out:
	hsmca_pin_wipe(&so);
	hsmca_pin_wipe(&user);
	hsmca_module_close(m);
	return ret;
}

int cmd_token(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "token");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (cli_wants_help(argc - 1, argv + 1) && strcmp(argv[1], "generate") != 0 &&
	    strcmp(argv[1], "init") != 0) {
		cli_print_synopsis(stdout, "token");
		return CLI_OK;
	}
	if (strcmp(argv[1], "list") == 0) {
		if (argc > 2)
			return cli_usage("token", "token list: unexpected argument '%s'", argv[2]);
		return token_list();
	}
	if (strcmp(argv[1], "init") == 0)
		return token_init(argc - 1, argv + 1);
	return cli_usage("token", "token: unknown action '%s'", argv[1]);
}
