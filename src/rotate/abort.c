/* Rolling a rotation back before it removes anything (rotate.h). */
#include "rotate/rot_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/ca.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "x509/x509.h"

static void report(struct hsmca_rot_abort_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void report(struct hsmca_rot_abort_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (!rep || rep->n == HSMCA_ARRAY_LEN(rep->lines))
		return;
	va_start(ap, fmt);
	vsnprintf(rep->lines[rep->n++], sizeof(rep->lines[0]), fmt, ap);
	va_end(ap);
}

static int audit(struct hsmca_rot *r, const char *event, const char *object, const char *outcome,
		 const char *k, const char *v, hsmca_error *err)
{
	const char *d[] = { "rotation", r->plan.id, "target", r->plan.target, k, v, NULL };

	if (!k)
		d[4] = NULL;
	return hsmca_session_audit(r->s, event, object, outcome, d, err);
}

struct abort_ctx {
	void *creds;
	char *new_pem;
};

static int node_untrust_new(struct hsmca_rot *r, size_t i, void *arg, char *done, size_t donelen,
			    hsmca_error *err)
{
	struct abort_ctx *c = arg;
	const struct hsmca_rot_node *n = &r->plan.nodes[i];
	bool changed = false, fchanged = false;

	if (r->t->set_trust(n, c->creds, c->new_pem, false, &changed, err) != 0)
		return -1;
	if (n->file[0] && r->t->file_trust(n->file, c->new_pem, false, &fchanged, err) != 0)
		return hsmca_error_prefix(err, "node file %s", n->file);
	snprintf(done, donelen, "%s%s", changed ? "new access CA removed" : "new access CA not present",
		 fchanged ? "; node file no longer carries it" : "");
	if (changed) {
		const char *d[] = { "rotation", r->plan.id, "action", "accepted CA removed (abort)",
				    NULL };

		return hsmca_session_audit(r->s, "rotate-node", n->addr, "ok", d, err);
	}
	return 0;
}

/* Is the credential file now one of the new CA's (step 3 got that far)? */
static bool output_replaced(struct hsmca_rot *r, const struct hsmca_ca *new_ca)
{
	void *c = NULL;
	hsmca_error e;
	bool yes;

	if (!new_ca || access(r->plan.output, F_OK) != 0 ||
	    r->t->creds_load(&r->plan, r->plan.output, &c, &e) != 0)
		return false;
	yes = hsmca_rot_cert_issued_by(r->t->creds_cert(c), new_ca->x509);
	r->t->creds_free(c);
	return yes;
}

static int destroy_new_key(struct hsmca_rot *r, struct hsmca_rot_abort_report *rep,
			   hsmca_error *err)
{
	hsmca_key *k = NULL;
	char uri[1024] = "";
	bool exists = false;
	int ret = -1;

	if (hsmca_key_label_exists(r->s->token, r->plan.new_key_label, &exists, err) != 0)
		return -1;
	if (!exists) {
		report(rep, "no new key %s in the token (none was made, or it is gone)",
		       r->plan.new_key_label);
		return 0;
	}
	if (hsmca_key_find(r->s->token, r->plan.new_key_label, &k, err) != 0)
		return -1;
	hsmca_key_uri(k, uri, sizeof(uri), NULL);
	if (hsmca_key_destroy(k, err) != 0 ||
	    audit(r, "destroy", uri, "ok", "reason", "rotation aborted", err) != 0)
		goto out;
	report(rep, "destroyed the new key %s", uri);
	ret = 0;
out:
	hsmca_key_free(k);
	return ret;
}

int hsmca_rot_abort(hsmca_rot *r, struct hsmca_session *s, const struct hsmca_rot_events *ev,
		    struct hsmca_rot_abort_report *rep, hsmca_error *err)
{
	struct abort_ctx c = { 0 };
	struct hsmca_ca *new_ca = NULL;
	char path[PATH_MAX];
	bool replaced, same_file;
	int ret = -1;

	r->s = s;
	r->ev = ev;
	if (r->st.steps[HSMCA_ROT_DISTRUST_OLD] != HSMCA_ROT_ST_PENDING)
		return hsmca_error_set(err, "rotation %s cannot be aborted: step 5 (distrust-old) has "
					    "begun, so nodes may already refuse the old access CA; "
					    "finish it with 'rotate-ca --resume --dry-run=false'",
				       r->plan.id);
	if (hsmca_path_join(path, sizeof(path), err, "%s/cas/%s/ca.yaml", r->home, r->plan.new_ca) !=
	    0)
		return -1;
	if (access(path, F_OK) == 0 && hsmca_ca_load(r->home, r->plan.new_ca, &new_ca, err) != 0)
		return -1;
	replaced = output_replaced(r, new_ca);
	same_file = strcmp(r->plan.output, hsmca_rot_plan_input(&r->plan)) == 0;
	if (replaced && same_file && !r->plan.old_ca[0]) {
		hsmca_error_set(err, "rotation %s cannot be aborted: this first adoption already "
				     "replaced %s with a credential of %s, and hsmca holds no key "
				     "that could issue the earlier one (the cluster's own CA's); removing "
				     "the new CA from the nodes would lock you out. Finish it with "
				     "'rotate-ca --resume --dry-run=false'",
				r->plan.id, r->plan.output, r->plan.new_ca);
		goto out;
	}
	if (hsmca_rot_log(r, "abort-begin", -1, -1, NULL, err) != 0 ||
	    audit(r, "rotate-abort", r->plan.new_ca, "ok", "phase", "begin", err) != 0)
		goto out;
	hsmca_rot_emit(r, HSMCA_ROT_EV_NOTE, HSMCA_ROT_ABORT, -1, "rolling back");
	hsmca_rot_fault(HSMCA_ROT_ABORT, "before");

	/* 1. Working credentials: the ones the rotation started from. */
	if (replaced && !same_file) {
		if (unlink(r->plan.output) != 0 && errno != ENOENT) {
			hsmca_error_errno(err, "cannot remove %s", r->plan.output);
			goto out;
		}
		report(rep, "removed %s (it held a credential of the new CA %s)", r->plan.output,
		       r->plan.new_ca);
	} else if (replaced) {
		char *crt = NULL, *key = NULL;
		int rc;

		if (hsmca_rot_issue_client(s, r->plan.old_ca, r->t->client_profile, r->t->client_cn, 0,
					   &crt, &key, err) != 0)
			goto out;
		rc = r->t->creds_write(&r->plan, r->plan.output, crt, key, err);
		free(crt);
		hsmca_rot_secret_free(key);
		if (rc != 0)
			goto out;
		report(rep, "restored %s: a new %s credential signed by the old access CA %s",
		       r->plan.output, r->t->client_profile, r->plan.old_ca);
	}

	/* 2. Nodes and node files forget the new CA (the old one is still
	 *    accepted everywhere: step 5 never began). */
	if (new_ca && r->st.steps[HSMCA_ROT_TRUST_NEW] != HSMCA_ROT_ST_PENDING) {
		size_t i, n = 0;

		if (r->t->creds_load(&r->plan, r->plan.talosconfig, &c.creds, err) != 0)
			goto out;
		c.new_pem = hsmca_pem_encode("CERTIFICATE", new_ca->der, new_ca->der_len, &i);
		if (!c.new_pem) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		if (hsmca_rot_for_nodes(r, HSMCA_ROT_ABORT, node_untrust_new, &c, err) != 0) {
			hsmca_error_prefix(err, "abort: removing the new access CA from the nodes");
			goto out;
		}
		for (i = 0; i < r->plan.n_nodes; i++)
			n += r->plan.nodes[i].file[0] != '\0';
		report(rep, "removed the new access CA %s from the accepted CAs of %zu node(s) and "
			    "%zu node file(s)", r->plan.new_ca, r->plan.n_nodes, n);
	} else {
		report(rep, "no node had been given the new access CA");
	}

	/* 3. The new key and CA. */
	if (destroy_new_key(r, rep, err) != 0)
		goto out;
	if (new_ca) {
		if (hsmca_rot_mark_retired(r->home, r->plan.new_ca, r->plan.id, "aborted", true, err) !=
		    0)
			goto out;
		report(rep, "marked %s retired (certificate kept in %s)", r->plan.new_ca, new_ca->dir);
	}
	if (hsmca_rot_log(r, "abort-end", -1, -1, NULL, err) != 0 ||
	    audit(r, "rotate-abort", r->plan.new_ca, "ok", "phase", "end", err) != 0 ||
	    hsmca_rot_journal_archive(&r->j, r->home, r->plan.id, err) != 0)
		goto out;
	report(rep, "journal moved to %s/rotate/history/%s.journal", r->home, r->plan.id);
	if (r->plan.old_ca[0])
		report(rep, "%s stays the access CA", r->plan.old_ca);
	ret = 0;
out:
	if (c.creds)
		r->t->creds_free(c.creds);
	free(c.new_pem);
	hsmca_ca_free(new_ca);
	return ret;
}
