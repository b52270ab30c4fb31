/* Issuance policy that holds across profiles: what a CA is for, what a
 * CA-issuing profile may ask of its issuer, and the Kubernetes names no
 * requester may pick. */
#include "issue/issue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "issue/profile.h"

/* The rotation names each target's current access CA in
 * <home>/<target>/access-ca.  A CA made before ca.yaml had `purpose` is
 * still marked by being named there. */
static void purpose_from_rotation(const char *home, const struct hsmca_ca *ca, char *out,
				  size_t outlen)
{
	static const struct {
		const char *target, *purpose;
	} targets[] = { { "kubernetes", HSMCA_CA_PURPOSE_KUBE }, { "talos", HSMCA_CA_PURPOSE_TALOS } };
	size_t i;

	out[0] = '\0';
	for (i = 0; home && i < sizeof(targets) / sizeof(targets[0]); i++) {
		char path[PATH_MAX];
		uint8_t *buf = NULL;
		size_t len = 0;
		hsmca_error e;

		if (hsmca_path_join(path, sizeof(path), &e, "%s/%s/access-ca", home,
				    targets[i].target) != 0 ||
		    access(path, F_OK) != 0 || hsmca_read_file(path, 256, &buf, &len, &e) != 0)
			continue;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
			buf[--len] = '\0';
		if (strcmp((char *)buf, ca->name) == 0)
			snprintf(out, outlen, "%s", targets[i].purpose);
		free(buf);
	}
}

static void purpose_profiles(const char *purpose, char *out, size_t outlen)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < hsmca_profile_builtin_count(); i++) {
		const struct hsmca_profile_def *d = hsmca_profile_builtin(i);

		if (strcmp(d->purpose, purpose) == 0 && used < outlen)
			used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
						 d->name);
	}
}

int hsmca_issue_policy_issuer(const struct hsmca_issuer *iss, const char *home, hsmca_error *err)
{
	const struct hsmca_ca *ca = iss->ca;
	const struct hsmca_profile_def *p = &iss->profile;
	char purpose[24], list[256];

	snprintf(purpose, sizeof(purpose), "%s", ca->purpose);
	if (!purpose[0])
		purpose_from_rotation(home, ca, purpose, sizeof(purpose));
	if (purpose[0] && strcmp(purpose, p->purpose) != 0) {
		purpose_profiles(purpose, list, sizeof(list));
		return hsmca_error_set(err, "CA '%s' is a %s CA: it issues only with profile%s %s, "
					    "not '%s'", ca->name, purpose, strchr(list, ',') ? "s" : "",
				       list, p->name);
	}
	if (p->is_ca) {
		long pl;

		if (!(X509_get_extension_flags(ca->x509) & EXFLAG_CA))
			return hsmca_error_set(err, "'%s' is not a CA certificate: it cannot issue a CA",
					       ca->name);
		pl = X509_get_pathlen(ca->x509);
		if (pl == 0)
			return hsmca_error_set(err, "CA '%s' has pathLenConstraint 0: it cannot issue a "
						    "CA certificate (profile '%s'), only leaves",
					       ca->name, p->name);
		if (pl > 0 && p->path_len >= pl)
			return hsmca_error_set(err, "CA '%s' has pathLenConstraint %ld: profile '%s' asks "
						    "for pathLen %d, more than the %ld it allows below it",
					       ca->name, pl, p->name, p->path_len, pl - 1);
	}
	return 0;
}

int hsmca_issue_policy_path_len(const struct hsmca_issuer *iss, int path_len)
{
	long pl;

	if (!iss->profile.is_ca)
		return path_len;
	pl = X509_get_pathlen(iss->ca->x509);
	/* "No limit" in a profile means as deep as the issuer allows. */
	if (pl > 0 && (path_len < 0 || path_len >= pl))
		return (int)(pl - 1);
	return path_len;
}

/* Kubernetes reserves the "system:" prefix for its own users and groups
 * (apiserver/pkg/authentication/user).  Whoever holds such a name is the
 * control plane or a node, and O=system:masters bypasses RBAC. */
static bool reserved(const char *v)
{
	return strncasecmp(v, "system:", 7) == 0;
}

static bool profile_fixes(const struct hsmca_profile_def *p, const char *v, bool cn)
{
	int i;

	if (cn) {
		size_t fl = strlen(p->subject_cn);

		if (fl == 0)
			return false;
		if (p->subject_cn[fl - 1] == '*')
			return strncmp(v, p->subject_cn, fl - 1) == 0;
		return strcmp(v, p->subject_cn) == 0;
	}
	for (i = 0; i < p->n_subject_o; i++)
		if (strcmp(v, p->subject_o[i]) == 0)
			return true;
	return false;
}

/* The built-in profile that fixes v, for the message. */
static const char *meant_for(const char *v, bool cn)
{
	size_t i;

	if (!cn && strcmp(v, "system:masters") == 0)
		return "kube-admin";
	for (i = 0; i < hsmca_profile_builtin_count(); i++)
		if (profile_fixes(hsmca_profile_builtin(i), v, cn))
			return hsmca_profile_builtin(i)->name;
	return NULL;
}

static int check_name(const struct hsmca_profile_def *p, const char *v, bool cn, hsmca_error *err)
{
	const char *meant;

	if (!reserved(v))
		return 0;
	/* The name must come from the profile itself; system:masters only from
	 * kube-admin (a custom profile cannot take that name). */
	if (profile_fixes(p, v, cn) &&
	    (strcasecmp(v, "system:masters") != 0 || strcmp(p->name, "kube-admin") == 0))
		return 0;
	meant = meant_for(v, cn);
	if (meant)
		return hsmca_error_set(err, "%s=%s is a reserved Kubernetes name: only profile '%s' "
					    "issues it, not '%s'", cn ? "CN" : "O", v, meant, p->name);
	return hsmca_error_set(err, "%s=%s is a reserved Kubernetes name (system:…): profile '%s' "
				    "does not issue it", cn ? "CN" : "O", v, p->name);
}

int hsmca_issue_policy_names(const struct hsmca_profile_def *p, const char *cn,
			     const char (*o)[64], size_t n_o, hsmca_error *err)
{
	size_t i;

	if (check_name(p, cn, true, err) != 0)
		return -1;
	for (i = 0; i < n_o; i++)
		if (check_name(p, o[i], false, err) != 0)
			return -1;
	return 0;
}
