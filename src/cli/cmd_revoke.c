/* hsmca revoke — placeholder while it is being written; refuses to run. */
#include "cli/cli.h"

int cmd_revoke(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_failf("revoke: not available in this build");
}
