/* Fuzz the kubeconfig reader (hsmca_kubeconfig_parse): contexts, clusters,
 * users, inline and file credentials, exec plugin stanzas (never run: the
 * target sets no_exec / defer_exec).  File references resolve against an
 * empty private directory.  The first byte picks the options. */
#include <stdint.h>

#include "fuzz_util.h"
#include "kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	hsmca_kubeconfig_options opt = { 0 };
	hsmca_kubeconfig *kc = NULL;
	hsmca_error err;

	if (size < 1 || size > 1024 * 1024)
		return 0;
	opt.context = (data[0] & 1) ? "a" : NULL;
	/* Never run a plugin named by fuzz input. */
	opt.no_exec = (data[0] & 2) != 0;
	opt.defer_exec = !opt.no_exec;
	if (hsmca_kubeconfig_parse(data + 1, size - 1, "fuzz-kubeconfig", fuzz_dir(), &opt, &kc,
				   &err) == 0) {
		(void)hsmca_kubeconfig_expiring(kc, 1700000000, 60);
		hsmca_kubeconfig_free(kc);
	}
	return 0;
}
