/* --chain-out / --fullchain, shared by sign and issue. */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "common/fsutil.h"
#include "hier/hier.h"

int cli_write_chain(const char *cmd, const char *home, const char *ca_name, const char *chain_out,
		    bool fullchain, char **pem, size_t *pem_len)
{
	hsmca_error err = { "", 0 };
	struct hsmca_ca *ca = NULL;
	char *chain = NULL;
	size_t chain_len = 0;
	int ret = -1;

	if (hsmca_ca_load(home, ca_name, &ca, &err) != 0 ||
	    hsmca_hier_chain_pem(ca, &chain, &chain_len, &err) != 0) {
		cli_failf("%s: the chain of CA %s: %s", cmd, ca_name, err.msg);
		goto out;
	}
	if (chain_out && hsmca_write_atomic(chain_out, chain, chain_len, 0644, &err) != 0) {
		cli_failf("%s: chain %s not written: %s", cmd, chain_out, err.msg);
		goto out;
	}
	if (fullchain && pem) {
		char *all = realloc(*pem, *pem_len + chain_len + 1);

		if (!all) {
			cli_failf("%s: out of memory", cmd);
			goto out;
		}
		memcpy(all + *pem_len, chain, chain_len + 1);
		*pem = all;
		*pem_len += chain_len;
	}
	ret = 0;
out:
	free(chain);
	hsmca_ca_free(ca);
	return ret;
}
