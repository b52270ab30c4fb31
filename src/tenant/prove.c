/* The new admin kubeconfig: fetch it, write it 0600, prove it works against
 * the tenant API server, and prove the old one is refused.
 *
 * The old admin kubeconfig holds a private key, so it lives only in the
 * memory of the run that read it (record-old).  It is refused in one of two
 * ways, and both are tried and reported:
 *   - as it was: its certificate-authority-data is the old CA, so the tenant
 *     API server's new serving certificate does not verify (the client stops
 *     at the handshake, curl CURLE_PEER_FAILED_VERIFICATION);
 *   - its client certificate, with the new CA trusted for the server: the
 *     server answers 401, since it trusts only the new tenant CA.
 * A run resumed after record-old no longer has it; it proves, with the old
 * CA certificate from the journal (public), that the server's certificate
 * no longer verifies against the old CA, and says that the 401 proof of the
 * old client certificate was not possible. */
#include "tenant/tenant_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/fsutil.h"
#include "common/util.h"

#define PROOF_WINDOW_MS 60000 /* how long the tenant API server may take to serve the new CA */

int tenant_fetch_admin(struct tctx *t, hsmca_kubeconfig **out, const char **key_used,
		       uint8_t **raw, size_t *raw_len, hsmca_error *err)
{
	static const char *const keys[] = { "super-admin.conf", "admin.conf" };
	static const hsmca_kubeconfig_options kopt = { .no_exec = true };
	char name[TENANT_NAME_MAX], desc[TENANT_NAME_MAX + 80];
	hsmca_kube_ref ref = { "v1", "secrets", t->ns, name };
	json_object *sec = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = -1;

	tenant_secret_name(t->name, "admin-kubeconfig", name);
	if (hsmca_kube_get(t->k, &ref, &sec, err) != 0)
		return -1;
	for (size_t i = 0; i < HSMCA_ARRAY_LEN(keys); i++) {
		if (hsmca_kube_secret_data(sec, keys[i], &buf, &len, err) == 0) {
			*key_used = keys[i];
			break;
		}
		if (!HSMCA_KUBE_IS_HTTP(err, 404))
			goto out;
	}
	if (!buf) {
		hsmca_error_set(err, "secret %s/%s has neither super-admin.conf nor admin.conf", t->ns,
				name);
		err->code = 404;
		goto out;
	}
	snprintf(desc, sizeof(desc), "secret %s/%s key %s", t->ns, name, *key_used);
	if (hsmca_kubeconfig_parse(buf, len, desc, NULL, &kopt, out, err) != 0)
		goto out;
	if (raw) {
		*raw = buf;
		*raw_len = len;
		buf = NULL;
	}
	ret = 0;
out:
	if (buf) {
		hsmca_wipe(buf, len);
		free(buf);
	}
	json_object_put(sec);
	return ret;
}

/* Replace `path` with `data`, mode 0600, through the one safe writer
 * (random O_EXCL temporary name, mode at creation, symlinks refused). */
static int write_private_atomic(const char *path, const void *data, size_t len, hsmca_error *err)
{
	return hsmca_write_atomic(path, data, len, 0600, err);
}

int tenant_write_kubeconfig(struct tctx *t, hsmca_error *err)
{
	hsmca_kubeconfig *kc = NULL;
	const char *key = NULL;
	uint8_t *raw = NULL;
	size_t len = 0;
	json_object *f;
	int ret = -1;

	if (tenant_fetch_admin(t, &kc, &key, &raw, &len, err) != 0) {
		hsmca_error_prefix(err, "step write: fetch the new admin kubeconfig");
		goto out;
	}
	if (write_private_atomic(t->res->out, raw, len, err) != 0) {
		hsmca_error_prefix(err, "step write: the new admin kubeconfig");
		goto out;
	}
	snprintf(t->res->kubeconfig_key, sizeof(t->res->kubeconfig_key), "%s", key);
	f = json_object_new_object();
	json_object_object_add(f, "out", json_object_new_string(t->res->out));
	json_object_object_add(f, "key", json_object_new_string(key));
	if (tj_append(&t->j, "written", f, err) != 0)
		goto out;
	tenant_progress(t, "write", "new admin kubeconfig (%s) written to %s, mode 0600", key,
			t->res->out);
	tenant_fault_point("write");
	ret = 0;
out:
	if (raw) {
		hsmca_wipe(raw, len);
		free(raw);
	}
	hsmca_kubeconfig_free(kc);
	return ret;
}

/* GET /version with kc; ca (may be NULL) replaces the kubeconfig's CA bundle
 * for this probe only. */
static int probe(hsmca_kubeconfig *kc, uint8_t *ca, size_t ca_len, char *version,
		 size_t versionlen, hsmca_error *err)
{
	hsmca_kube_options ko = { .timeout_ms = 10000, .connect_timeout_ms = 5000,
				  .max_throttle_retries = 2, .max_retry_after_s = 5 };
	uint8_t *saved = kc->ca_pem;
	size_t saved_len = kc->ca_len;
	hsmca_kube *k = NULL;
	int ret;

	if (ca) {
		kc->ca_pem = ca;
		kc->ca_len = ca_len;
	}
	ret = hsmca_kube_open(kc, &ko, &k, err);
	if (ret == 0)
		ret = hsmca_kube_version(k, version, versionlen, err);
	hsmca_kube_free(k);
	kc->ca_pem = saved;
	kc->ca_len = saved_len;
	return ret;
}

static bool refused(const hsmca_error *e)
{
	return HSMCA_KUBE_IS_HTTP(e, 401) || HSMCA_KUBE_IS_TLS_UNTRUSTED(e);
}

static void describe_refusal(const hsmca_error *e, char *out, size_t outlen)
{
	if (HSMCA_KUBE_IS_HTTP(e, 401))
		snprintf(out, outlen, "refused by the tenant API server: HTTP 401 Unauthorized");
	else
		snprintf(out, outlen, "refused: the tenant API server's certificate does not verify "
				      "against the old CA (curl CURLE_PEER_FAILED_VERIFICATION)");
}

/* A kubeconfig with only the old CA (from the journal) and no credential. */
static int old_ca_probe_config(struct tctx *t, const hsmca_kubeconfig *newkc,
			       hsmca_kubeconfig **out, hsmca_error *err)
{
	const char *pem = hsmca_kube_str(t->old, "old_ca_pem");
	size_t plen = pem ? strlen(pem) : 0;
	char *b64 = NULL, *yaml = NULL;
	int n, ret = -1;

	if (!pem)
		return hsmca_error_set(err, "journal: no old CA certificate");
	b64 = malloc(4 * ((plen + 2) / 3) + 1);
	if (!b64)
		return hsmca_error_set(err, "out of memory");
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pem, (int)plen);
	n = asprintf(&yaml,
		     "apiVersion: v1\nkind: Config\nclusters:\n- name: old-ca\n  cluster:\n"
		     "    server: \"%s\"\n    certificate-authority-data: %s\n%s%s%s"
		     "contexts:\n- name: probe\n  context:\n    cluster: old-ca\n"
		     "current-context: probe\n",
		     newkc->server, b64, newkc->tls_server_name ? "    tls-server-name: \"" : "",
		     newkc->tls_server_name ? newkc->tls_server_name : "",
		     newkc->tls_server_name ? "\"\n" : "");
	if (n < 0) {
		yaml = NULL;
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	ret = hsmca_kubeconfig_parse(yaml, (size_t)n, "old-CA probe", NULL, NULL, out, err);
out:
	free(yaml);
	free(b64);
	return ret;
}

int tenant_prove(struct tctx *t, hsmca_error *err)
{
	static const hsmca_kubeconfig_options kopt = { .no_exec = true };
	hsmca_tenant_result *r = t->res;
	hsmca_kubeconfig *newkc = NULL, *probekc = NULL;
	int64_t until = tenant_now_ms() + PROOF_WINDOW_MS;
	hsmca_error e;
	json_object *f;
	bool old_done = false, cred_done = false;
	int ret = -1;

	/* The file as written, not the bytes in memory. */
	if (hsmca_kubeconfig_load(r->out, &kopt, &newkc, err) != 0) {
		hsmca_error_prefix(err, "step prove");
		goto out;
	}
	for (;;) {
		if (probe(newkc, NULL, 0, r->tenant_version, sizeof(r->tenant_version), &e) == 0)
			break;
		if (tenant_now_ms() >= until) {
			hsmca_error_set(err, "step prove: the new admin kubeconfig %s is not accepted by "
					"the tenant API server %s within %d s: %s", r->out, newkc->server,
					PROOF_WINDOW_MS / 1000, e.msg);
			err->code = e.code;
			goto out;
		}
		usleep(500000);
	}
	tenant_progress(t, "prove", "new admin kubeconfig works: tenant API server %s answered %s",
			newkc->server, r->tenant_version);

	if (!t->old_admin) {
		if (old_ca_probe_config(t, newkc, &probekc, err) != 0) {
			hsmca_error_prefix(err, "step prove");
			goto out;
		}
		if (r->resumed)
			snprintf(r->old_credential, sizeof(r->old_credential),
				 "not proven: this run resumed a rotation whose old admin kubeconfig was "
				 "held only in the memory of the interrupted run (it holds a private key "
				 "and is never written to disk)");
		else
			snprintf(r->old_credential, sizeof(r->old_credential),
				 "not proven: there was no old admin kubeconfig to try");
		cred_done = true;
	}
	while (!old_done || !cred_done) {
		if (!old_done) {
			hsmca_kubeconfig *kc = t->old_admin ? t->old_admin : probekc;

			if (probe(kc, NULL, 0, NULL, 0, &e) == 0) {
				hsmca_error_set(err, "step prove: the OLD %s is still accepted by the "
						"tenant API server %s", t->old_admin ? "admin kubeconfig"
						: "CA (the server still presents a certificate of it)",
						kc->server);
				goto out;
			}
			if (refused(&e)) {
				if (!t->old_admin && !HSMCA_KUBE_IS_TLS_UNTRUSTED(&e)) {
					hsmca_error_set(err, "step prove: the tenant API server still "
							"presents a certificate of the old CA");
					goto out;
				}
				describe_refusal(&e, r->old_kubeconfig, sizeof(r->old_kubeconfig));
				if (!t->old_admin)
					strncat(r->old_kubeconfig,
						" (checked with the old CA certificate from the journal)",
						sizeof(r->old_kubeconfig) - strlen(r->old_kubeconfig) - 1);
				old_done = true;
			}
		}
		if (!cred_done) {
			if (probe(t->old_admin, newkc->ca_pem, newkc->ca_len, NULL, 0, &e) == 0) {
				hsmca_error_set(err, "step prove: the OLD admin client certificate is still "
						"accepted by the tenant API server %s", newkc->server);
				goto out;
			}
			if (HSMCA_KUBE_IS_HTTP(&e, 401)) {
				snprintf(r->old_credential, sizeof(r->old_credential),
					 "refused by the tenant API server: HTTP 401 Unauthorized (old "
					 "client certificate, new CA trusted for the server)");
				cred_done = true;
			}
		}
		if (old_done && cred_done)
			break;
		if (tenant_now_ms() >= until) {
			hsmca_error_set(err, "step prove: could not show that the old admin kubeconfig "
					"is refused within %d s: %s", PROOF_WINDOW_MS / 1000, e.msg);
			err->code = e.code;
			goto out;
		}
		usleep(500000);
	}
	tenant_progress(t, "prove", "old admin kubeconfig: %s", r->old_kubeconfig);
	tenant_progress(t, "prove", "old admin credential: %s", r->old_credential);
	f = json_object_new_object();
	json_object_object_add(f, "version", json_object_new_string(r->tenant_version));
	json_object_object_add(f, "old_kubeconfig", json_object_new_string(r->old_kubeconfig));
	json_object_object_add(f, "old_credential", json_object_new_string(r->old_credential));
	if (tj_append(&t->j, "proved", f, err) != 0)
		goto out;
	tenant_fault_point("prove");
	ret = 0;
out:
	hsmca_kubeconfig_free(newkc);
	hsmca_kubeconfig_free(probekc);
	return ret;
}
