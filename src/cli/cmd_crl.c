/* hsmca crl — placeholder while it is being written; refuses to run. */
#include "cli/cli.h"

int cmd_crl(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cli_failf("crl: not available in this build");
}
