#include "issue/profile.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "yaml/ytree.h"

#define Y1 ((int64_t)365 * 86400)
#define DS HSMCA_KU_DIGITAL_SIGNATURE
#define KE HSMCA_KU_KEY_ENCIPHERMENT
#define CA_KU (HSMCA_KU_KEY_CERT_SIGN | HSMCA_KU_CRL_SIGN)
#define SRV HSMCA_EKU_SERVER_AUTH
#define CLI HSMCA_EKU_CLIENT_AUTH
#define NET (HSMCA_SAN_DNS | HSMCA_SAN_IP)

/* Leaf profiles list digitalSignature only; issuance adds keyEncipherment
 * for RSA keys, as kubeadm does. */
static const struct hsmca_profile_def builtins[] = {
	{ .name = "intermediate-ca", .description = "subordinate CA (pathLen 0), keyCertSign+cRLSign",
	  .is_ca = true, .path_len = 0, .key_usage = CA_KU, .max_validity = 10 * Y1,
	  .default_validity = 5 * Y1, .o_from_csr = true, .min_rsa_bits = 3072 },
	{ .name = "talos-admin", .purpose = "talos-access",
	  .description = "Talos API client, role os:admin",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_o = { "os:admin" }, .n_subject_o = 1, .min_rsa_bits = 2048 },
	{ .name = "talos-operator", .purpose = "talos-access",
	  .description = "Talos API client, role os:operator",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_o = { "os:operator" }, .n_subject_o = 1, .min_rsa_bits = 2048 },
	{ .name = "talos-reader", .purpose = "talos-access",
	  .description = "Talos API client, role os:reader",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_o = { "os:reader" }, .n_subject_o = 1, .min_rsa_bits = 2048 },
	{ .name = "talos-etcd-backup", .purpose = "talos-access",
	  .description = "Talos API client, role os:etcd:backup",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_o = { "os:etcd:backup" }, .n_subject_o = 1,
	  .min_rsa_bits = 2048 },
	{ .name = "kube-admin", .purpose = "kubernetes-access",
	  .description = "Kubernetes cluster admin (O=system:masters)",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_o = { "system:masters" }, .n_subject_o = 1,
	  .min_rsa_bits = 2048 },
	{ .name = "kube-user", .purpose = "kubernetes-access",
	  .description = "Kubernetes user: CN = user, O = groups (from --subject)",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .o_from_csr = true, .min_rsa_bits = 2048 },
	{ .name = "server", .description = "TLS server, DNS/IP SANs required",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = SRV, .max_validity = Y1,
	  .default_validity = Y1, .san_kinds = NET, .require_san = true, .min_rsa_bits = 2048 },
	{ .name = "client", .description = "TLS client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .san_kinds = NET | HSMCA_SAN_URI | HSMCA_SAN_EMAIL,
	  .o_from_csr = true, .min_rsa_bits = 2048 },
	{ .name = "kube-apiserver", .description = "kubeadm apiserver serving certificate",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = SRV, .max_validity = Y1,
	  .default_validity = Y1, .san_kinds = NET, .require_san = true,
	  .subject_cn = "kube-apiserver", .min_rsa_bits = 2048 },
	{ .name = "kube-apiserver-kubelet-client", .description = "kubeadm apiserver-kubelet-client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "kube-apiserver-kubelet-client",
	  .subject_o = { "kubeadm:cluster-admins" }, .n_subject_o = 1, .min_rsa_bits = 2048 },
	{ .name = "front-proxy-client", .description = "kubeadm front-proxy-client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "front-proxy-client", .min_rsa_bits = 2048 },
	{ .name = "kube-apiserver-etcd-client", .description = "kubeadm apiserver-etcd-client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "kube-apiserver-etcd-client", .min_rsa_bits = 2048 },
	{ .name = "etcd-server", .description = "etcd server (serverAuth+clientAuth), CN = node name",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = SRV | CLI, .max_validity = Y1,
	  .default_validity = Y1, .san_kinds = NET, .require_san = true, .min_rsa_bits = 2048 },
	{ .name = "etcd-peer", .description = "etcd peer (serverAuth+clientAuth), CN = node name",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = SRV | CLI, .max_validity = Y1,
	  .default_validity = Y1, .san_kinds = NET, .require_san = true, .min_rsa_bits = 2048 },
	{ .name = "etcd-healthcheck-client", .description = "kubeadm etcd healthcheck-client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "kube-etcd-healthcheck-client", .min_rsa_bits = 2048 },
	{ .name = "kube-controller-manager", .description = "controller-manager.conf client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "system:kube-controller-manager", .min_rsa_bits = 2048 },
	{ .name = "kube-scheduler", .description = "scheduler.conf client",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "system:kube-scheduler", .min_rsa_bits = 2048 },
	{ .name = "kubelet-client", .description = "kubelet client, CN system:node:<name>, O system:nodes",
	  .path_len = -1, .key_usage = DS, .ext_key_usage = CLI, .max_validity = Y1,
	  .default_validity = Y1, .subject_cn = "system:node:*", .subject_o = { "system:nodes" },
	  .n_subject_o = 1, .min_rsa_bits = 2048 },
};

size_t hsmca_profile_builtin_count(void)
{
	return sizeof(builtins) / sizeof(builtins[0]);
}

const struct hsmca_profile_def *hsmca_profile_builtin(size_t i)
{
	return i < hsmca_profile_builtin_count() ? &builtins[i] : NULL;
}

int hsmca_profile_get(const char *home, const char *name, struct hsmca_profile_def *out,
		      hsmca_error *err)
{
	char path[PATH_MAX];
	size_t i;

	if (hsmca_yname_valid(name) &&
	    hsmca_path_join(path, sizeof(path), err, "%s/profiles/%s.yaml", home, name) != 0)
		return -1;
	for (i = 0; i < hsmca_profile_builtin_count(); i++) {
		if (strcmp(builtins[i].name, name) == 0) {
			/* Two meanings for one name is how a certificate gets the wrong one. */
			if (hsmca_yname_valid(name) && access(path, F_OK) == 0)
				return hsmca_error_set(err, "custom profile %s would shadow the built-in profile "
							    "'%s'; rename the file", path, name);
			*out = builtins[i];
			return 0;
		}
	}
	if (!hsmca_yname_valid(name))
		return hsmca_error_set(err, "unknown profile '%s' (see 'hsmca profiles list')", name);
	if (access(path, F_OK) != 0)
		return hsmca_error_set(err, "unknown profile '%s': not built in and no %s "
					    "(see 'hsmca profiles list')", name, path);
	return hsmca_profile_def_load(path, out, err);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct hsmca_profile_def *)a)->name,
		      ((const struct hsmca_profile_def *)b)->name);
}

int hsmca_profile_list(const char *home, struct hsmca_profile_def **out, size_t *n,
		       hsmca_error *err)
{
	size_t nb = hsmca_profile_builtin_count(), have = 0, cap = nb + 8, i;
	struct hsmca_profile_def *list = calloc(cap, sizeof(*list));
	char dir[PATH_MAX], path[PATH_MAX];
	DIR *d;
	struct dirent *e;

	if (!list)
		return hsmca_error_set(err, "out of memory");
	for (i = 0; i < nb; i++)
		list[have++] = builtins[i];
	if (hsmca_path_join(dir, sizeof(dir), err, "%s/profiles", home) != 0)
		goto fail;
	d = opendir(dir);
	if (d) {
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);

			if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
				continue;
			if (have == cap) {
				struct hsmca_profile_def *nl = realloc(list, 2 * cap * sizeof(*list));

				if (!nl) {
					closedir(d);
					hsmca_error_set(err, "out of memory");
					goto fail;
				}
				list = nl;
				cap *= 2;
			}
			if (hsmca_path_join(path, sizeof(path), err, "%s/%s", dir, e->d_name) != 0 ||
			    hsmca_profile_def_load(path, &list[have], err) != 0) {
				closedir(d);
				goto fail;
			}
			for (i = 0; i < nb; i++) {
				if (strcmp(builtins[i].name, list[have].name) == 0) {
					closedir(d);
					hsmca_error_set(err, "%s: custom profile '%s' would shadow the built-in "
							     "one; rename it", path, builtins[i].name);
					goto fail;
				}
			}
			have++;
		}
		closedir(d);
	}
	qsort(list + nb, have - nb, sizeof(*list), cmp_name);
	*out = list;
	*n = have;
	return 0;
fail:
	free(list);
	return -1;
}

static void join_flags(unsigned v, const char *const names[], size_t n, char *out, size_t outlen)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!(v & (1u << i)))
			continue;
		used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0, "%s%s",
					 used ? ", " : "", names[i]);
	}
	if (!out[0])
		snprintf(out, outlen, "-");
}

void hsmca_ku_format(unsigned ku, char *out, size_t outlen)
{
	static const char *const names[] = { "digitalSignature", "contentCommitment", "keyEncipherment",
					     "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign" };

	join_flags(ku, names, 7, out, outlen);
}

void hsmca_eku_format(unsigned eku, char *out, size_t outlen)
{
	static const char *const names[] = { "serverAuth", "clientAuth", "codeSigning",
					     "emailProtection", "OCSPSigning", "timeStamping" };

	join_flags(eku, names, 6, out, outlen);
}

void hsmca_san_kinds_format(unsigned kinds, char *out, size_t outlen)
{
	static const char *const names[] = { "dns", "ip", "uri", "email" };

	join_flags(kinds, names, 4, out, outlen);
}
