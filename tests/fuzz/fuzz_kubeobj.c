/* Fuzz how Kubernetes API answers are read: the depth-limited JSON parse,
 * Status bodies turned into messages, dotted-path strings, Secret data
 * (base64) and pod readiness. */
#include <stdint.h>
#include <stdlib.h>

#include "kube/kubeclient.h"
#include "kube/kubeclient_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "metadata.name", "metadata.namespace",
					     "metadata.resourceVersion", "status.phase", "kind",
					     "a.b.c.d.e", "", "." };
	json_object *o = NULL;
	hsmca_error err;
	uint8_t *secret = NULL;
	size_t len = 0, i;

	if (size > 1024 * 1024)
		return 0;
	(void)kube_status_error("GET fuzz", 403, (const char *)data, size, &err);
	if (kube_parse_json("GET fuzz", (const char *)data, size, &o, &err) != 0)
		return 0;
	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		(void)hsmca_kube_str(o, paths[i]);
	(void)hsmca_kube_pod_ready(o);
	if (hsmca_kube_secret_data(o, "admin.conf", &secret, &len, &err) == 0) {
		if (secret[len] != '\0')
			__builtin_trap();
		free(secret);
	}
	json_object_put(o);
	return 0;
}
