/* hsmca talos issue-config --role os:admin|os:operator|os:reader|os:etcd:backup --out FILE
 *                          [--context NAME] [--talosconfig FILE] */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>


#include "rotate/rotate.h"

static int issue_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },	 { "out", required_argument, NULL, 'o' },
		{ "context", required_argument, NULL, 'c' },	 { "talosconfig", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },		 { NULL, 0, NULL, 0 },
	};
	const char *role = NULL, *out = NULL, *context = NULL, *from = NULL;
	struct hsmca_session *s = NULL;
	struct hsmca_rot_issued info;
	hsmca_error err = { "", 0 };
	int c, ret = CLI_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': role = optarg; break;
		case 'o': out = optarg; break;
		case 'c': context = optarg; break;
		case 't': from = optarg; break;
		case 'h':
			cli_print_synopsis(stdout, "talos");
			puts("\nWrites a talosconfig (mode 0600) whose client certificate, for the given\n"
			     "Talos role, is signed in the token by the current Talos access CA (see\n"
			     "'hsmca rotate status'). Its key is made on this host and written only to\n"
			     "that file. Endpoints, nodes and the node CA come from the last rotation,\n"
			     "or from --talosconfig FILE (whose own key is not used).");
			return CLI_OK;
		default:
			return cli_usage("talos", "talos issue-config: unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("talos", "talos issue-config: unexpected argument '%s'", argv[optind]);
	if (!role || !out)
		return cli_usage("talos", "talos issue-config: --role and --out are required");
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_rot_issue_config(s, role, from, context, out, &info, &err) != 0) {
		cli_failf("talos issue-config: %s", err.msg);
		goto out;
	}
	cli_print_issued(out, role, &info);
	ret = CLI_OK;
out:
	cli_close(s);
	return ret;
}

int cmd_talos(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_print_synopsis(stdout, "talos");
		return CLI_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "issue-config") == 0)
		return issue_config(argc - 1, argv + 1);
	return cli_usage("talos", "talos: expected 'issue-config'");
}
