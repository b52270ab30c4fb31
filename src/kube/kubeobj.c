/* Reading Kubernetes objects: dotted-path strings, Secret data, pod readiness. */
#include "kube/kubeclient.h"

#include <stdio.h>
#include <string.h>

#include "kube/kube_internal.h"

const char *hsmca_kube_str(json_object *obj, const char *path)
{
	char part[128];
	const char *p = path;

	while (obj && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (n == 0 || n >= sizeof(part) || !json_object_is_type(obj, json_type_object))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (!json_object_object_get_ex(obj, part, &obj))
			return NULL;
		p += n + (dot ? 1 : 0);
	}
	return obj && json_object_is_type(obj, json_type_string) ? json_object_get_string(obj)
								   : NULL;
}

int hsmca_kube_secret_data(json_object *secret, const char *key, uint8_t **out, size_t *len,
			   hsmca_error *err)
{
	json_object *data, *v;
	const char *name = hsmca_kube_str(secret, "metadata.name");

	if (!json_object_object_get_ex(secret, "data", &data) ||
	    !json_object_object_get_ex(data, key, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		hsmca_error_set(err, "secret %s has no key %s", name ? name : "?", key);
		if (err)
			err->code = 404;
		return -1;
	}
	if (hsmca_b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), key,
			    out, len, err) < 0)
		return hsmca_error_prefix(err, "secret %s", name ? name : "?");
	return 0;
}

bool hsmca_kube_pod_ready(json_object *pod)
{
	json_object *md, *status, *conds;

	if (json_object_object_get_ex(pod, "metadata", &md) &&
	    json_object_object_get_ex(md, "deletionTimestamp", NULL))
		return false;
	if (!json_object_object_get_ex(pod, "status", &status) ||
	    !json_object_object_get_ex(status, "conditions", &conds) ||
	    !json_object_is_type(conds, json_type_array))
		return false;
	for (size_t i = 0; i < json_object_array_length(conds); i++) {
		json_object *c = json_object_array_get_idx(conds, i);
		const char *type = hsmca_kube_str(c, "type");
		const char *st = hsmca_kube_str(c, "status");

		if (type && strcmp(type, "Ready") == 0)
			return st && strcmp(st, "True") == 0;
	}
	return false;
}
