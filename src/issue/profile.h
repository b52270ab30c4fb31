/* Certificate profiles: the profile, not the CSR, decides what a
 * certificate says.  Built-in profiles cover Talos API roles, Kubernetes
 * users, kubeadm's control-plane and etcd certificates, generic TLS server
 * and client, and intermediate CAs (exact fields in
 * reference/kubernetes.md and reference/talos.md).  Custom profiles are
 * YAML files in <home>/profiles/<name>.yaml (yaml/profile_yaml.h).
 *
 * subject_cn may end in '*': the CN must then start with the text before it
 * (kubelet-client: "system:node:*"). */
#ifndef HSMCA_PROFILE_H
#define HSMCA_PROFILE_H

#include <stddef.h>

#include "common/error.h"
#include "yaml/profile_yaml.h"

/* Look a profile up by name: built-ins first (a custom file may not shadow
 * one), then <home>/profiles/<name>.yaml. */
int hsmca_profile_get(const char *home, const char *name, struct hsmca_profile_def *out,
		      hsmca_error *err);

/* All profiles: built-ins, then valid custom files (invalid ones are an
 * error naming the file).  *out malloc'ed. */
int hsmca_profile_list(const char *home, struct hsmca_profile_def **out, size_t *n,
		       hsmca_error *err);

size_t hsmca_profile_builtin_count(void);
const struct hsmca_profile_def *hsmca_profile_builtin(size_t i);

/* Names for flags, for display ("digitalSignature, keyEncipherment"). */
void hsmca_ku_format(unsigned ku, char *out, size_t outlen);
void hsmca_eku_format(unsigned eku, char *out, size_t outlen);
void hsmca_san_kinds_format(unsigned kinds, char *out, size_t outlen);

#endif
