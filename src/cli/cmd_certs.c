/* hsmca certs — placeholder while it is being written; refuses to run. */
#include "cli/cli.h"

int cmd_certs(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_failf("certs: not available in this build");
}
