/* hsmca audit verify */
#include "cli/cli.h"

#include <limits.h>
#include <string.h>

#include <json-c/json.h>

#include "audit/audit.h"
#include "common/fsutil.h"

int cmd_audit(int argc, char **argv)
{
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], path[PATH_MAX];
	size_t lines = 0, bad = 0;
	int rc;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "audit");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "verify") != 0)
		return cli_usage("audit", "audit: unknown action '%s'", argv[1]);
	if (argc > 2)
		return cli_usage("audit", "audit verify: unexpected argument '%s'", argv[2]);
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0 ||
	    hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0)
		return cli_fail(&err);
	if (!hsmca_config_exists(home))
		return cli_failf("audit verify: %s is not an hsmca state directory", home);
	rc = hsmca_audit_verify(path, &lines, &bad, &err);
	if (cli.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "log", json_object_new_string(path));
		json_object_object_add(o, "ok", json_object_new_boolean(rc == 0));
		json_object_object_add(o, "lines", json_object_new_int64((int64_t)lines));
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
	if (!cli.json)
		printf("audit log %s: %zu line%s, hash chain intact\n", path, lines, lines == 1 ? "" : "s");
	return CLI_OK;
}
