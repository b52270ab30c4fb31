/* hsmca kube issue-config --user NAME [--group G]… [--admin] --out FILE
 *                         [--server URL] [--kubeconfig FILE] [--context NAME]
 *                         [--validity D] */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>


#include "common/util.h"
#include "rotate/rotate.h"

#define MAX_GROUPS 8

static int issue_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },     { "group", required_argument, NULL, 'g' },
		{ "admin", no_argument, NULL, 'a' },	      { "out", required_argument, NULL, 'o' },
		{ "server", required_argument, NULL, 's' },   { "kubeconfig", required_argument, NULL, 'k' },
		{ "context", required_argument, NULL, 'c' },  { "validity", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
	};
	const char *groups[MAX_GROUPS + 1] = { NULL };
	struct hsmca_rot_kube_request rq;
	struct hsmca_session *s = NULL;
	struct hsmca_rot_issued info;
	hsmca_error err = { "", 0 };
	const char *out = NULL;
	size_t n_groups = 0, i;
	int64_t validity = 0;
	int c, ret = CLI_FAIL;

	memset(&rq, 0, sizeof(rq));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': rq.user = optarg; break;
		case 'g':
			if (n_groups == MAX_GROUPS)
				return cli_usage("kube", "kube issue-config: at most %d --group", MAX_GROUPS);
			groups[n_groups++] = optarg;
			break;
		case 'a': rq.admin = true; break;
		case 'o': out = optarg; break;
		case 's': rq.server = optarg; break;
		case 'k': rq.from_kubeconfig = optarg; break;
		case 'c': rq.context = optarg; break;
		case 'v':
			if (hsmca_parse_duration(optarg, "--validity", &validity, &err) != 0)
				return cli_usage("kube", "kube issue-config: %s", err.msg);
			break;
		case 'h':
			cli_print_synopsis(stdout, "kube");
			puts("\nWrites a kubeconfig (mode 0600) for one user whose client certificate is\n"
			     "signed in the token by the current Kubernetes access CA (see 'hsmca rotate\n"
			     "status'): CN = --user, O = each --group (profile kube-user), or\n"
			     "O=system:masters with --admin (profile kube-admin; --group is then refused).\n"
			     "system:masters is never accepted as a --group. The key is made on this host\n"
			     "and written only to that file. The API server's CA (and, without --server,\n"
			     "its URL) come from the last Kubernetes rotation, or from --kubeconfig FILE\n"
			     "(whose own credentials are not used). An existing --out holding other\n"
			     "contexts is refused.");
			return CLI_OK;
		default:
			return cli_usage("kube", "kube issue-config: unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("kube", "kube issue-config: unexpected argument '%s'", argv[optind]);
	if (!rq.user || !*rq.user || !out)
		return cli_usage("kube", "kube issue-config: --user and --out are required");
	if (rq.admin && n_groups)
		return cli_usage("kube", "kube issue-config: --admin sets the group system:masters; "
					 "drop --group");
	for (i = 0; i < n_groups; i++)
		if (strcmp(groups[i], "system:masters") == 0)
			return cli_usage("kube", "kube issue-config: --group system:masters is refused "
						 "(it bypasses RBAC); use --admin for a cluster-admin "
						 "credential, on purpose");
	rq.groups = groups;
	rq.validity = (long)validity;
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_rot_issue_kubeconfig(s, &rq, out, &info, &err) != 0) {
		cli_failf("kube issue-config: %s", err.msg);
		goto out;
	}
	cli_print_issued(out, info.profile, &info);
	ret = CLI_OK;
out:
	cli_close(s);
	return ret;
}

int cmd_kube(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_print_synopsis(stdout, "kube");
		return CLI_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "issue-config") == 0)
		return issue_config(argc - 1, argv + 1);
	return cli_usage("kube", "kube: expected 'issue-config'");
}
