/* The seven steps of a rotation, and begin/open/run (rotate.h). */
#include "rotate/rot_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ca/ca.h"
#include "ca/ceremony.h"
#include "ca/retired.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "x509/x509.h"

/* ---- lifecycle ---- */

static struct hsmca_rot *rot_new(const char *home, hsmca_error *err)
{
	struct hsmca_rot *r = calloc(1, sizeof(*r));

	if (!r) {
		hsmca_error_set(err, "out of memory");
		return NULL;
	}
	r->lock_fd = -1;
	r->j.fd = -1;
	snprintf(r->home, sizeof(r->home), "%s", home);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

void hsmca_rot_close(hsmca_rot *r)
{
	if (!r)
		return;
	hsmca_rot_journal_close(&r->j);
	hsmca_rot_lock_release(r->lock_fd);
	hsmca_rot_plan_free(&r->plan);
	hsmca_rot_jstate_free(&r->st);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

const struct hsmca_rot_plan *hsmca_rot_get_plan(const hsmca_rot *r)
{
	return &r->plan;
}

int hsmca_rot_begin(const char *home, const struct hsmca_rot_plan *plan, hsmca_rot **out,
		    hsmca_error *err)
{
	struct hsmca_rot *r = rot_new(home, err);
	size_t i;

	if (!r)
		return -1;
	if (hsmca_rot_lock_take(home, &r->lock_fd, err) != 0)
		goto fail;
	if (hsmca_rot_journal_exists(home)) {
		hsmca_error_set(err, "a rotation is already in progress (see 'hsmca rotate status'): "
				     "continue it with 'rotate-ca --resume --dry-run=false' or roll it "
				     "back with 'rotate-ca --abort --dry-run=false'");
		goto fail;
	}
	if (!(r->t = hsmca_rot_target_find(plan->target))) {
		hsmca_error_set(err, "unknown target %s", plan->target);
		goto fail;
	}
	if (hsmca_rot_plan_copy(&r->plan, plan, err) != 0)
		goto fail;
	memset(&r->st, 0, sizeof(r->st));
	r->st.n_nodes = plan->n_nodes;
	for (i = 0; i <= HSMCA_ROT_NSTEPS; i++) {
		r->st.node_done[i] = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof(bool));
		if (!r->st.node_done[i]) {
			hsmca_error_set(err, "out of memory");
			goto fail;
		}
	}
	if (hsmca_rot_journal_create(home, &r->plan, &r->j, err) != 0)
		goto fail;
	*out = r;
	return 0;
fail:
	hsmca_rot_close(r);
	return -1;
}

int hsmca_rot_open(const char *home, hsmca_rot **out, hsmca_error *err)
{
	struct hsmca_rot *r = rot_new(home, err);

	if (!r)
		return -1;
	if (hsmca_rot_lock_take(home, &r->lock_fd, err) != 0 ||
	    hsmca_rot_journal_load(home, &r->plan, &r->st, &r->j, err) != 0)
		goto fail;
	if (!(r->t = hsmca_rot_target_find(r->plan.target))) {
		hsmca_error_set(err, "journal names an unknown target %s", r->plan.target);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	hsmca_rot_close(r);
	return -1;
}

/* ---- helpers ---- */

static int audit(struct hsmca_rot *r, const char *event, const char *object, const char *outcome,
		 const char *const *kv, hsmca_error *err)
{
	const char *d[16];
	size_t i = 0, k;

	d[i++] = "rotation";
	d[i++] = r->plan.id;
	d[i++] = "target";
	d[i++] = r->plan.target;
	for (k = 0; kv && kv[k] && kv[k + 1] && i + 3 < HSMCA_ARRAY_LEN(d); k += 2) {
		d[i++] = kv[k];
		d[i++] = kv[k + 1];
	}
	d[i] = NULL;
	return hsmca_session_audit(r->s, event, object, outcome, d, err);
}

static int ca_pem_of(const struct hsmca_ca *ca, char **pem, hsmca_error *err)
{
	size_t len;

	*pem = hsmca_pem_encode("CERTIFICATE", ca->der, ca->der_len, &len);
	return *pem ? 0 : hsmca_error_set(err, "out of memory");
}

/* A short-lived certificate of the old access CA, key in memory only: the
 * credential that must be accepted before the old CA is removed and refused
 * after.  Issued again after a crash: the old key exists until step 7. */
static int old_probe_creds(struct hsmca_rot *r, void **creds, hsmca_error *err)
{
	char *crt = NULL, *key = NULL;
	int ret;

	if (hsmca_rot_issue_client(r->s, r->plan.old_ca, r->t->probe_profile,
				   HSMCA_REVOCATION_PROBE_CN, 3600, &crt, &key, err) != 0)
		return -1;
	ret = r->t->creds_from_pem(r->plan.node_ca_pem, crt, key, creds, err);
	free(crt);
	hsmca_rot_secret_free(key);
	return ret;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Probe until the node accepts (want_accept) or refuses the credential, for
 * at most the settle time: a node may take a moment to apply a change. */
static int probe_until(struct hsmca_rot *r, const struct hsmca_rot_node *n, const void *creds,
		       bool want_accept, char *info, size_t infolen, hsmca_error *err)
{
	double end = mono_now() + hsmca_rot_settle_seconds(r->t);
	int (*probe)(const struct hsmca_rot_node *, const void *, char *, size_t, hsmca_error *) =
		r->t->probe_direct ? r->t->probe_direct : r->t->probe;

	for (;;) {
		hsmca_error e = { "", 0 };
		int rc = probe(n, creds, info, infolen, &e);

		if (rc != 0 && e.code == HSMCA_ROT_E_NO_DIRECT) {
			*err = e;
			return -1;
		}
		if (want_accept) {
			if (rc == 0)
				return 0;
			if (!r->t->is_refusal(&e)) {
				*err = e;
				return -1;
			}
		} else {
			if (rc != 0 && r->t->is_refusal(&e))
				return 0;
			if (rc != 0) {
				*err = e;
				return hsmca_error_prefix(err, "cannot tell whether node %s refuses the "
							       "old access CA", n->addr);
			}
		}
		if (mono_now() >= end) {
			if (want_accept) {
				*err = e;
				return hsmca_error_prefix(err, "node %s does not accept the new "
							       "credential", n->addr);
			}
			return hsmca_error_set(err, "node %s still accepts a credential signed by the "
						    "old access CA on a fresh connection", n->addr);
		}
		sleep(1);
	}
}

struct step_ctx {
	void *creds;       /* credentials for node calls */
	void *probe;       /* old-CA probe credential, or NULL */
	char *ca_pem;      /* the CA certificate the step adds or removes */
	char *old_pem;
	char *new_pem;     /* the new access CA certificate (read-back proofs) */
};

static void step_ctx_clear(struct hsmca_rot *r, struct step_ctx *c)
{
	if (c->creds)
		r->t->creds_free(c->creds);
	if (c->probe)
		r->t->creds_free(c->probe);
	free(c->ca_pem);
	free(c->old_pem);
	free(c->new_pem);
	memset(c, 0, sizeof(*c));
}

static int load_ca_pem(struct hsmca_rot *r, const char *name, char **pem, struct hsmca_ca **out,
		       hsmca_error *err)
{
	struct hsmca_ca *ca = NULL;

	if (hsmca_ca_load(r->home, name, &ca, err) != 0)
		return -1;
	if (ca_pem_of(ca, pem, err) != 0) {
		hsmca_ca_free(ca);
		return -1;
	}
	if (out)
		*out = ca;
	else
		hsmca_ca_free(ca);
	return 0;
}

/* Credentials from the credential file, checked to be signed by `ca_name`. */
static int load_creds_of(struct hsmca_rot *r, const char *path, const char *ca_name,
			 void **creds, hsmca_error *err)
{
	struct hsmca_ca *ca = NULL;
	int ret = -1;

	if (r->t->creds_load(&r->plan, path, creds, err) != 0)
		return -1;
	if (hsmca_ca_load(r->home, ca_name, &ca, err) != 0)
		goto out;
	if (!hsmca_rot_cert_issued_by(r->t->creds_cert(*creds), ca->x509)) {
		hsmca_error_set(err, "%s holds a client certificate not signed by %s", path, ca_name);
		goto out;
	}
	ret = 0;
out:
	hsmca_ca_free(ca);
	if (ret != 0) {
		r->t->creds_free(*creds);
		*creds = NULL;
	}
	return ret;
}

static int file_edit(struct hsmca_rot *r, const struct hsmca_rot_node *n, const char *pem,
		     bool add, char *done, size_t donelen, hsmca_error *err)
{
	bool changed = false;
	size_t l = strlen(done);

	if (!n->file[0])
		return 0;
	if (r->t->file_trust(n->file, pem, add, &changed, err) != 0)
		return hsmca_error_prefix(err, "node file %s", n->file);
	snprintf(done + l, donelen - l, "%snode file %s", l ? "; " : "",
		 changed ? (add ? "now carries it" : "no longer carries it")
			 : (add ? "already carried it" : "did not carry it"));
	return 0;
}

static int node_audit(struct hsmca_rot *r, size_t i, const char *action, hsmca_error *err)
{
	const char *kv[] = { "action", action, NULL };

	return audit(r, "rotate-node", r->plan.nodes[i].addr, "ok", kv, err);
}

/* ---- step 1: prepare ---- */

static int destroy_orphan_key(struct hsmca_rot *r, const char *label, hsmca_error *err)
{
	hsmca_key *k = NULL;
	char uri[1024] = "";
	bool exists = false;
	size_t n = 0;
	int ret = -1;

	if (hsmca_key_label_exists(r->s->token, label, &exists, err) != 0)
		return -1;
	if (!exists)
		return 0;
	/* A whole pair, a private key alone, a public key alone (SoftHSM2
	 * persists the halves of a pair separately, so a kill inside
	 * C_GenerateKeyPair can leave one): all by label and ID. */
	if (hsmca_key_find(r->s->token, label, &k, NULL) == 0)
		hsmca_key_uri(k, uri, sizeof(uri), NULL);
	else
		snprintf(uri, sizeof(uri), "label %s (no private key)", label);
	if (hsmca_key_destroy_label(r->s->token, label, &n, err) != 0)
		goto out;
	{
		char count[32];
		const char *kv[] = { "reason", "orphan of an interrupted prepare (no certificate was "
					       "made with it)", "objects", count, NULL };

		snprintf(count, sizeof(count), "%zu", n);
		if (audit(r, "destroy", uri, "ok", kv, err) != 0)
			goto out;
	}
	ret = 0;
out:
	hsmca_key_free(k);
	return ret;
}

static int step_prepare(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct hsmca_ceremony c;
	struct hsmca_ca *ca = NULL;
	hsmca_key *k = NULL;
	char dir[PATH_MAX], path[PATH_MAX];
	enum hsmca_key_type kt;
	unsigned long gen = 0;
	const char *g;
	int ret = -1;

	if (r->plan.old_ca[0]) {
		if (hsmca_ca_load(r->home, r->plan.old_ca, &ca, err) != 0 ||
		    hsmca_ca_open_key(r->s, ca, &k, err) != 0) {
			hsmca_error_prefix(err, "the current access CA must have its key in the token "
						"(to prove revocation, then retire it)");
			goto out;
		}
		hsmca_key_free(k);
		k = NULL;
		hsmca_ca_free(ca);
		ca = NULL;
	}
	if (hsmca_path_join(dir, sizeof(dir), err, "%s/cas/%s", r->home, r->plan.new_ca) != 0 ||
	    hsmca_path_join(path, sizeof(path), err, "%s/ca.yaml", dir) != 0)
		goto out;
	if (access(path, F_OK) == 0) {
		/* Made before a crash: it must be whole, with its key. */
		if (hsmca_ca_load(r->home, r->plan.new_ca, &ca, err) != 0 ||
		    hsmca_ca_open_key(r->s, ca, &k, err) != 0)
			goto out;
		snprintf(note, notelen, "%s already made (SHA-256 %s)", ca->name, ca->fingerprint);
		ret = 0;
		goto out;
	}
	/* A crash inside the ceremony can leave ca.pem without ca.yaml, or the
	 * key without any file.  Neither was ever used: start again. */
	if (hsmca_path_join(path, sizeof(path), err, "%s/ca.pem", dir) != 0)
		goto out;
	if (unlink(path) != 0 && errno != ENOENT) {
		hsmca_error_errno(err, "cannot remove %s", path);
		goto out;
	}
	if (rmdir(dir) != 0 && errno != ENOENT) {
		hsmca_error_errno(err, "cannot remove the incomplete CA directory %s", dir);
		goto out;
	}
	if (destroy_orphan_key(r, r->plan.new_key_label, err) != 0)
		goto out;

	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "%s", r->plan.new_ca);
	snprintf(c.key_type, sizeof(c.key_type), "%s", r->plan.key_type);
	snprintf(c.key_label, sizeof(c.key_label), "%s", r->plan.new_key_label);
	g = strrchr(r->plan.new_ca, 'g');
	if (g)
		gen = strtoul(g + 1, NULL, 10);
	snprintf(c.subject, sizeof(c.subject), "CN=%s access CA g%lu,O=hsmca", r->t->title, gen);
	c.validity = HSMCA_CEREMONY_DEFAULT_VALIDITY;
	c.path_len = 0;
	/* Marked for its use: it then issues only the target's access profiles. */
	snprintf(c.purpose, sizeof(c.purpose), "%s",
		 strcmp(r->t->name, "kubernetes") == 0 ? HSMCA_CA_PURPOSE_KUBE : HSMCA_CA_PURPOSE_TALOS);
	if (hsmca_key_type_parse(c.key_type, &kt, err) != 0)
		goto out;
	snprintf(c.sig_hash, sizeof(c.sig_hash), "%s", kt == HSMCA_KEY_EC_P384 ? "sha384" : "sha256");
	if (hsmca_ca_create_root(r->s, &c, &ca, err) != 0)
		goto out;
	snprintf(note, notelen, "%s made: %s, key %s, SHA-256 %s", ca->name, ca->subject,
		 ca->key_uri, ca->fingerprint);
	ret = 0;
out:
	hsmca_key_free(k);
	hsmca_ca_free(ca);
	return ret;
}

/* ---- step 2: trust new ---- */

static int node_trust_new(struct hsmca_rot *r, size_t i, void *arg, char *done, size_t donelen,
			  hsmca_error *err)
{
	struct step_ctx *c = arg;
	bool changed = false;

	if (r->t->set_trust(&r->plan.nodes[i], c->creds, c->ca_pem, true, &changed, err) != 0)
		return -1;
	snprintf(done, donelen, "%s; the node answers after the change",
		 changed ? "new access CA added to the accepted CAs" : "new access CA already accepted");
	return changed ? node_audit(r, i, "accepted CA added", err) : 0;
}

static int step_trust_new(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct step_ctx c = { 0 };
	int ret = -1;

	if (r->t->creds_load(&r->plan, r->plan.talosconfig, &c.creds, err) != 0 ||
	    load_ca_pem(r, r->plan.new_ca, &c.ca_pem, NULL, err) != 0)
		goto out;
	ret = hsmca_rot_for_nodes(r, HSMCA_ROT_TRUST_NEW, node_trust_new, &c, err);
out:
	step_ctx_clear(r, &c);
	return ret;
}

/* ---- step 3: issue ---- */

static int node_file_add(struct hsmca_rot *r, size_t i, void *arg, char *done, size_t donelen,
			 hsmca_error *err)
{
	struct step_ctx *c = arg;

	if (!r->plan.nodes[i].file[0]) {
		snprintf(done, donelen, "no talm node file for this node");
		return 0;
	}
	return file_edit(r, &r->plan.nodes[i], c->ca_pem, true, done, donelen, err);
}

static int step_issue(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct step_ctx c = { 0 };
	struct hsmca_ca *ca = NULL;
	char *crt = NULL, *key = NULL;
	void *have = NULL;
	hsmca_error e;
	int ret = -1;

	if (load_ca_pem(r, r->plan.new_ca, &c.ca_pem, &ca, err) != 0)
		goto out;
	if (r->t->creds_load(&r->plan, r->plan.output, &have, &e) == 0 &&
	    hsmca_rot_cert_issued_by(r->t->creds_cert(have), ca->x509)) {
		snprintf(note, notelen, "%s already holds a credential of %s", r->plan.output, ca->name);
	} else {
		if (hsmca_rot_issue_client(r->s, r->plan.new_ca, r->t->client_profile,
					   r->t->client_cn, 0, &crt, &key, err) != 0)
			goto out;
		if (r->t->creds_write(&r->plan, r->plan.output, crt, key, err) != 0) {
			hsmca_error_prefix(err, "write %s", r->plan.output);
			goto out;
		}
		{
			const char *kv[] = { "file", r->plan.output, "profile", r->t->client_profile,
					     "ca", r->plan.new_ca, NULL };

			if (audit(r, "rotate-credential", r->plan.output, "ok", kv, err) != 0)
				goto out;
		}
		snprintf(note, notelen, "%s written (mode 0600): %s certificate signed by %s",
			 r->plan.output, r->t->client_profile, ca->name);
	}
	if (hsmca_rot_cluster_save(r->home, &r->plan, err) != 0)
		goto out;
	ret = hsmca_rot_for_nodes(r, HSMCA_ROT_ISSUE, node_file_add, &c, err);
out:
	if (have)
		r->t->creds_free(have);
	free(crt);
	hsmca_rot_secret_free(key);
	hsmca_ca_free(ca);
	step_ctx_clear(r, &c);
	return ret;
}

/* ---- step 4: verify new ---- */

/* Direct where the node can be dialled, else through its endpoint. */
static int probe_or_proxied(struct hsmca_rot *r, const struct hsmca_rot_node *n, const void *creds,
			    hsmca_error *err)
{
	if (r->t->probe_direct) {
		int rc = r->t->probe_direct(n, creds, NULL, 0, err);

		if (rc == 0 || err->code != HSMCA_ROT_E_NO_DIRECT)
			return rc;
	}
	return r->t->probe(n, creds, NULL, 0, err);
}

static int node_verify_new(struct hsmca_rot *r, size_t i, void *arg, char *done, size_t donelen,
			   hsmca_error *err)
{
	struct step_ctx *c = arg;
	const struct hsmca_rot_node *n = &r->plan.nodes[i];
	char tag[128] = "";

	if (probe_until(r, n, c->creds, true, tag, sizeof(tag), err) == 0) {
		snprintf(done, donelen, "proof: fresh direct TLS: new credential accepted (%s)", tag);
	} else if (err->code != HSMCA_ROT_E_NO_DIRECT) {
		return -1;
	} else {
		/* No route to the node's own apid: the endpoint's acceptance (a
		 * proxied call) plus the node's config read back. */
		struct hsmca_rot_node_view v;
		hsmca_error e = { "", 0 };
		double end = mono_now() + hsmca_rot_settle_seconds(r->t);

		while (r->t->probe(n, c->creds, tag, sizeof(tag), &e) != 0) {
			if (!r->t->is_refusal(&e) || mono_now() >= end) {
				*err = e;
				return hsmca_error_prefix(err, "new credential through the endpoint");
			}
			sleep(1);
		}
		if (r->t->inspect(n, c->creds, c->old_pem, c->new_pem, &v, err) != 0)
			return -1;
		if (!v.trusts_new)
			return hsmca_error_set(err, "node %s: its machine config read back does not "
						    "list the new access CA", n->addr);
		snprintf(done, donelen, "proof: config read back (no direct route to the node): "
					"new access CA listed; new credential accepted by the endpoint "
					"(%s)", tag);
	}
	if (c->probe) {
		/* Positive control: the probe credential must work while the old
		 * CA is still trusted, so its refusal in step 6 means something. */
		hsmca_error e = { "", 0 };
		struct hsmca_rot_node_view v;

		if (probe_or_proxied(r, n, c->probe, &e) == 0) {
			size_t l = strlen(done);

			snprintf(done + l, donelen - l, "; old-CA probe credential accepted (control)");
			return 0;
		}
		if (!r->t->is_refusal(&e)) {
			*err = e;
			return hsmca_error_prefix(err, "old-CA probe credential");
		}
		if (r->t->inspect(n, c->creds, c->old_pem, NULL, &v, err) != 0)
			return -1;
		if (v.trusts_old)
			return hsmca_error_set(err, "node %s refuses a certificate of the old access CA "
						    "although it lists that CA: refusal could not prove "
						    "revocation later", n->addr);
		strncat(done, "; node already does not list the old access CA", donelen - strlen(done) - 1);
	}
	return 0;
}

static int step_verify_new(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct step_ctx c = { 0 };
	int ret = -1;

	if (load_creds_of(r, r->plan.output, r->plan.new_ca, &c.creds, err) != 0 ||
	    load_ca_pem(r, r->plan.new_ca, &c.new_pem, NULL, err) != 0)
		goto out;
	if (r->plan.old_ca[0] && (load_ca_pem(r, r->plan.old_ca, &c.old_pem, NULL, err) != 0 ||
				  old_probe_creds(r, &c.probe, err) != 0))
		goto out;
	ret = hsmca_rot_for_nodes(r, HSMCA_ROT_VERIFY_NEW, node_verify_new, &c, err);
out:
	step_ctx_clear(r, &c);
	return ret;
}

/* ---- step 5: distrust old ---- */

static int node_distrust_old(struct hsmca_rot *r, size_t i, void *arg, char *done,
			     size_t donelen, hsmca_error *err)
{
	struct step_ctx *c = arg;
	bool changed = false;

	if (r->t->set_trust(&r->plan.nodes[i], c->creds, c->ca_pem, false, &changed, err) != 0)
		return -1;
	snprintf(done, donelen, "%s; the node answers after the change",
		 changed ? "old access CA removed from the accepted CAs"
			 : "old access CA already not accepted");
	if (changed && node_audit(r, i, "accepted CA removed", err) != 0)
		return -1;
	return file_edit(r, &r->plan.nodes[i], c->ca_pem, false, done, donelen, err);
}

static int step_distrust_old(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct step_ctx c = { 0 };
	int ret = -1;

	/* From here on the new CA is the one that works everywhere. */
	if (hsmca_rot_set_current_ca(r->home, r->plan.target, r->plan.new_ca, err) != 0)
		return -1;
	if (!r->plan.old_ca[0]) {
		snprintf(note, notelen, "first adoption: no earlier hsmca access CA to remove "
					"(credentials signed by the machine CA stay valid; only a "
					"machine CA rotation revokes them)");
		return 1;
	}
	if (load_creds_of(r, r->plan.output, r->plan.new_ca, &c.creds, err) != 0 ||
	    load_ca_pem(r, r->plan.old_ca, &c.ca_pem, NULL, err) != 0)
		goto out;
	ret = hsmca_rot_for_nodes(r, HSMCA_ROT_DISTRUST_OLD, node_distrust_old, &c, err);
out:
	step_ctx_clear(r, &c);
	return ret;
}

/* ---- step 6: prove revoked ---- */

static int node_prove_revoked(struct hsmca_rot *r, size_t i, void *arg, char *done,
			      size_t donelen, hsmca_error *err)
{
	struct step_ctx *c = arg;
	const struct hsmca_rot_node *n = &r->plan.nodes[i];
	struct hsmca_rot_node_view v;
	hsmca_error e = { "", 0 };

	if (probe_until(r, n, c->probe, false, NULL, 0, err) == 0) {
		snprintf(done, donelen, "proof: fresh direct TLS: refused a certificate of %s",
			 r->plan.old_ca);
		return 0;
	}
	if (err->code != HSMCA_ROT_E_NO_DIRECT)
		return -1;
	/* No route to the node's own apid: its config, read back, must list
	 * the new access CA and not the old one; and the endpoint that
	 * proxies to it must refuse the old credential. */
	if (r->t->inspect(n, c->creds, c->ca_pem, c->new_pem, &v, err) != 0)
		return -1;
	if (v.trusts_old || !v.trusts_new)
		return hsmca_error_set(err, "node %s: its machine config read back %s", n->addr,
				       v.trusts_old ? "still lists the old access CA"
						    : "does not list the new access CA");
	if (r->t->probe(n, c->probe, NULL, 0, &e) == 0 || !r->t->is_refusal(&e))
		return hsmca_error_set(err, "node %s: its endpoint %s a certificate of the old "
					    "access CA", n->addr,
				       e.msg[0] ? "could not be asked whether it refuses" : "accepts");
	snprintf(done, donelen, "proof: config read back (no direct route to the node): lists "
				"%s, not %s; the endpoint refused a certificate of %s",
		 r->plan.new_ca, r->plan.old_ca, r->plan.old_ca);
	return 0;
}

static int step_prove_revoked(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct step_ctx c = { 0 };
	int ret = -1;

	if (!r->plan.old_ca[0]) {
		snprintf(note, notelen, "first adoption: no earlier hsmca access CA to prove revoked");
		return 1;
	}
	if (old_probe_creds(r, &c.probe, err) != 0 ||
	    load_creds_of(r, r->plan.output, r->plan.new_ca, &c.creds, err) != 0 ||
	    load_ca_pem(r, r->plan.old_ca, &c.ca_pem, NULL, err) != 0 ||
	    load_ca_pem(r, r->plan.new_ca, &c.new_pem, NULL, err) != 0)
		goto out;
	ret = hsmca_rot_for_nodes(r, HSMCA_ROT_PROVE_REVOKED, node_prove_revoked, &c, err);
out:
	step_ctx_clear(r, &c);
	return ret;
}

/* ---- step 7: retire ---- */

static int step_retire(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err)
{
	struct hsmca_ca *ca = NULL;
	hsmca_key *k = NULL;
	bool exists = false;
	size_t i;
	int ret = -1;

	if (!r->plan.old_ca[0]) {
		snprintf(note, notelen, "first adoption: no earlier hsmca access CA to retire");
		return 1;
	}
	/* The one rule that must never break: no destruction before every node
	 * was seen refusing the old CA. */
	if (r->st.steps[HSMCA_ROT_PROVE_REVOKED] != HSMCA_ROT_ST_DONE)
		return hsmca_error_set(err, "internal: retire before prove-revoked finished");
	for (i = 0; i < r->plan.n_nodes; i++)
		if (!r->st.node_done[HSMCA_ROT_PROVE_REVOKED][i])
			return hsmca_error_set(err, "internal: node %s was not proven to refuse the old "
						    "CA", r->plan.nodes[i].addr);
	if (hsmca_ca_load(r->home, r->plan.old_ca, &ca, err) != 0 ||
	    hsmca_key_label_exists(r->s->token, ca->key_label, &exists, err) != 0)
		goto out;
	if (exists) {
		if (hsmca_ca_open_key(r->s, ca, &k, err) != 0)
			goto out;
		if (hsmca_key_destroy(k, err) != 0) {
			const char *kv[] = { "ca", ca->name, "reason", err->msg, NULL };

			audit(r, "destroy", ca->key_uri, "failed", kv, NULL);
			goto out;
		}
		{
			const char *kv[] = { "ca", ca->name, "reason", "retired after rotation", NULL };

			if (audit(r, "destroy", ca->key_uri, "ok", kv, err) != 0)
				goto out;
		}
		hsmca_rot_fault(HSMCA_ROT_RETIRE, "destroyed");
		snprintf(note, notelen, "key %s of %s destroyed; certificate kept as retired",
			 ca->key_uri, ca->name);
	} else {
		snprintf(note, notelen, "key of %s already gone from the token; certificate kept as "
					"retired", ca->name);
	}
	if (hsmca_rot_mark_retired(r->home, ca->name, r->plan.id, "rotated", true, err) != 0)
		goto out;
	ret = 0;
out:
	hsmca_key_free(k);
	hsmca_ca_free(ca);
	return ret;
}

/* ---- the run ---- */

typedef int (*step_fn)(struct hsmca_rot *r, char *note, size_t notelen, hsmca_error *err);

static const step_fn step_fns[HSMCA_ROT_NSTEPS] = {
	step_prepare,	   step_trust_new,     step_issue,  step_verify_new,
	step_distrust_old, step_prove_revoked, step_retire,
};

static int run_step(struct hsmca_rot *r, int step, hsmca_error *err)
{
	char note[1536] = "";
	const char *name = hsmca_rot_step_name(step);
	int rc;

	if (r->st.steps[step] == HSMCA_ROT_ST_DONE)
		return 0;
	{
		const char *kv[] = { "step", name, "phase", "begin", NULL };

		if (hsmca_rot_log(r, "step-begin", step, -1, NULL, err) != 0 ||
		    audit(r, "rotate-step", r->plan.new_ca, "ok", kv, err) != 0)
			return -1;
	}
	hsmca_rot_emit(r, HSMCA_ROT_EV_STEP_BEGIN, step, -1, hsmca_rot_step_title(step));
	hsmca_rot_fault(step, "before");
	rc = step_fns[step](r, note, sizeof(note), err);
	if (rc < 0) {
		const char *kv[] = { "error", err->msg, NULL };
		const char *akv[] = { "step", name, "phase", "failed", "reason", err->msg, NULL };
		hsmca_error e2;

		hsmca_rot_log(r, "fail", step, -1, kv, &e2);
		audit(r, "rotate-step", r->plan.new_ca, "failed", akv, NULL);
		return hsmca_error_prefix(err, "step %d %s", step + 1, name);
	}
	hsmca_rot_fault(step, "after");
	{
		const char *kv[] = { "note", note, NULL };
		const char *akv[] = { "step", name, "phase", rc == 1 ? "skipped" : "end", NULL };

		if (hsmca_rot_log(r, rc == 1 ? "step-skip" : "step-end", step, -1, kv, err) != 0 ||
		    audit(r, "rotate-step", r->plan.new_ca, "ok", akv, err) != 0)
			return -1;
	}
	hsmca_rot_emit(r, rc == 1 ? HSMCA_ROT_EV_STEP_SKIP : HSMCA_ROT_EV_STEP_END, step, -1, note);
	return 0;
}

int hsmca_rot_run(hsmca_rot *r, struct hsmca_session *s, const struct hsmca_rot_events *ev,
		  hsmca_error *err)
{
	bool fresh = true;
	int step;

	if (r->st.aborting)
		return hsmca_error_set(err, "an abort of rotation %s is in progress: finish it with "
					    "'rotate-ca --abort --dry-run=false'", r->plan.id);
	r->s = s;
	r->ev = ev;
	for (step = 0; step < HSMCA_ROT_NSTEPS; step++)
		fresh &= r->st.steps[step] == HSMCA_ROT_ST_PENDING;
	{
		char n[16];
		const char *kv[] = { "old_ca", r->plan.old_ca[0] ? r->plan.old_ca : "(none)", "new_ca",
				     r->plan.new_ca, "nodes", n, NULL };

		snprintf(n, sizeof(n), "%zu", r->plan.n_nodes);
		if (audit(r, fresh ? "rotate-begin" : "rotate-resume", r->plan.new_ca, "ok", kv, err) !=
		    0)
			return -1;
	}
	for (step = 0; step < HSMCA_ROT_NSTEPS; step++)
		if (run_step(r, step, err) != 0)
			return -1;
	if (hsmca_rot_log(r, "finish", -1, -1, NULL, err) != 0 ||
	    audit(r, "rotate-finish", r->plan.new_ca, "ok", NULL, err) != 0 ||
	    hsmca_rot_journal_archive(&r->j, r->home, r->plan.id, err) != 0)
		return -1;
	return 0;
}
