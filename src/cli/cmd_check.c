/* hsmca check — placeholder while it is being written; refuses to run. */
#include "cli/cli.h"

int cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_failf("check: not available in this build");
}
