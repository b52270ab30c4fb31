/* The dry run: what a rotation would do, read-only (rotate.h). */
#include "rotate/rot_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "x509/x509.h"

static void ca_view(struct hsmca_session *s, const struct hsmca_ca *ca, struct hsmca_rot_ca_view *v)
{
	hsmca_key *k = NULL;
	hsmca_error e;

	v->exists = true;
	snprintf(v->name, sizeof(v->name), "%s", ca->name);
	snprintf(v->subject, sizeof(v->subject), "%s", ca->subject);
	snprintf(v->fingerprint, sizeof(v->fingerprint), "%s", ca->fingerprint);
	snprintf(v->key_label, sizeof(v->key_label), "%s", ca->key_label);
	snprintf(v->key_uri, sizeof(v->key_uri), "%s", ca->key_uri);
	hsmca_format_time(ca->not_before, v->not_before);
	hsmca_format_time(ca->not_after, v->not_after);
	if (hsmca_ca_open_key(s, ca, &k, &e) == 0) {
		v->key_present = true;
		snprintf(v->key_type, sizeof(v->key_type), "%s",
			 hsmca_key_type_name(hsmca_key_get_info(k)->type));
	}
	hsmca_key_free(k);
}

struct inspect_ctx {
	const struct hsmca_rot_target *t;
	const struct hsmca_rot_plan *plan;
	void *creds;
	const char *old_pem;
	struct hsmca_rot_node_view *views;
};

static int inspect_one(void *arg, size_t i)
{
	struct inspect_ctx *c = arg;
	struct hsmca_rot_node_view *v = &c->views[i];
	hsmca_error e = { "", 0 };

	if (c->t->inspect(&c->plan->nodes[i], c->creds, c->old_pem, NULL, v, &e) != 0) {
		snprintf(v->error, sizeof(v->error), "%s", e.msg);
		return -1;
	}
	return 0;
}

static int add_file(struct hsmca_rot_preview *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int add_file(struct hsmca_rot_preview *p, const char *fmt, ...)
{
	char buf[PATH_MAX + 128], **nf;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	nf = realloc(p->files, (p->n_files + 1) * sizeof(*nf));
	if (!nf)
		return -1;
	p->files = nf;
	if (!(p->files[p->n_files] = strdup(buf)))
		return -1;
	p->n_files++;
	return 0;
}

static void problem(struct hsmca_rot_preview *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct hsmca_rot_preview *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->ok)
		return; /* keep the first */
	p->ok = false;
	va_start(ap, fmt);
	vsnprintf(p->problem, sizeof(p->problem), fmt, ap);
	va_end(ap);
}

int hsmca_rot_preview(struct hsmca_session *s, const struct hsmca_rot_plan *plan,
		      struct hsmca_rot_preview *out, hsmca_error *err)
{
	const struct hsmca_rot_target *t = hsmca_rot_target_find(plan->target);
	struct inspect_ctx ic = { 0 };
	struct hsmca_ca *old = NULL;
	char *old_pem = NULL, tok[512] = "";
	bool exists = false;
	size_t i, len;
	hsmca_error e;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->ok = true;
	if (!t)
		return hsmca_error_set(err, "unknown target %s", plan->target);
	out->nodes = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof(*out->nodes));
	if (!out->nodes)
		return hsmca_error_set(err, "out of memory");

	if (plan->old_ca[0]) {
		if (hsmca_ca_load(s->home, plan->old_ca, &old, err) != 0)
			goto out;
		ca_view(s, old, &out->old_ca);
		if (!out->old_ca.key_present)
			problem(out, "the key of the current access CA %s is not in the token: the "
				     "rotation could neither prove its revocation nor retire it",
				plan->old_ca);
		old_pem = hsmca_pem_encode("CERTIFICATE", old->der, old->der_len, &len);
	}
	snprintf(out->new_ca.name, sizeof(out->new_ca.name), "%s", plan->new_ca);
	snprintf(out->new_ca.key_label, sizeof(out->new_ca.key_label), "%s", plan->new_key_label);
	snprintf(out->new_ca.key_type, sizeof(out->new_ca.key_type), "%s", plan->key_type);
	snprintf(out->new_ca.subject, sizeof(out->new_ca.subject), "CN=%s access CA %s,O=hsmca",
		 t->title, strrchr(plan->new_ca, '-') ? strrchr(plan->new_ca, '-') + 1 : "");
	hsmca_token_uri(s->token, tok, sizeof(tok), &e);
	snprintf(out->new_ca.key_uri, sizeof(out->new_ca.key_uri), "%s;object=%s;type=private", tok,
		 plan->new_key_label);
	snprintf(out->new_validity, sizeof(out->new_validity), "10 years from step 1");
	if (hsmca_key_label_exists(s->token, plan->new_key_label, &exists, err) != 0)
		goto out;
	if (exists)
		problem(out, "a key labelled %s is already in the token", plan->new_key_label);

	/* Nodes, read-only, with the current credentials. */
	if (t->creds_load(plan, plan->talosconfig, &ic.creds, err) != 0)
		goto out;
	ic.t = t;
	ic.plan = plan;
	ic.old_pem = old_pem;
	ic.views = out->nodes;
	hsmca_rot_pool(plan->n_nodes, plan->parallel, inspect_one, &ic);
	/* machine.acceptedCAs and cluster.acceptedCAs exist since Talos v1.7.0;
	 * an older node refuses the whole config ("unknown keys found during
	 * decoding") only once a real run is under way: refuse here instead. */
	for (i = 0; i < plan->n_nodes; i++) {
		const struct hsmca_rot_node_view *v = &out->nodes[i];
		unsigned maj = 0, min = 0;

		if (v->error[0])
			continue;
		if (sscanf(v->version, "v%u.%u", &maj, &min) != 2)
			problem(out, "node %s reports Talos version \"%s\", which hsmca cannot read: "
				     "accepted CAs need v1.7.0 or later", plan->nodes[i].addr, v->version);
		else if (maj < 1 || (maj == 1 && min < 7))
			problem(out, "node %s runs Talos %s: accepted CAs (machine.acceptedCAs, "
				     "cluster.acceptedCAs) need Talos v1.7.0 or later; upgrade it first",
				plan->nodes[i].addr, v->version);
	}
	for (i = 0; i < plan->n_nodes; i++) {
		const struct hsmca_rot_node_view *v = &out->nodes[i];

		if (v->error[0])
			problem(out, "node %s: %s", plan->nodes[i].addr, v->error);
		else if (!v->role_ok)
			problem(out, "node %s: machine.type is %s but the plan says %s",
				plan->nodes[i].addr, v->live_type,
				hsmca_rot_role_name(plan->nodes[i].role));
		else if (plan->old_ca[0] && !v->trusts_old)
			problem(out, "node %s does not list the current access CA %s",
				plan->nodes[i].addr, plan->old_ca);
	}

	/* Every file a real run writes. */
	if (add_file(out, "%s (replaced atomically, mode 0600: %s signed by %s)", plan->output,
		     t->client_profile, plan->new_ca) != 0)
		goto oom;
	for (i = 0; i < plan->n_nodes; i++)
		if (plan->nodes[i].file[0] &&
		    add_file(out, "%s (accepted CA %s added%s%s)", plan->nodes[i].file, plan->new_ca,
			     plan->old_ca[0] ? ", removed: " : "", plan->old_ca) != 0)
			goto oom;
	if (add_file(out, "%s/cas/%s/ (new CA: ca.pem, ca.yaml, issued.jsonl)", s->home,
		     plan->new_ca) != 0 ||
	    add_file(out, "%s/%s/access-ca, %s/%s/cluster.json", s->home, plan->target, s->home,
		     plan->target) != 0 ||
	    add_file(out, "%s/rotate/lock, journal, history/<rotation id>.journal", s->home) != 0 ||
	    add_file(out, "%s/audit.log (one line per step, node change and key event)", s->home) != 0)
		goto oom;
	if (plan->old_ca[0] &&
	    (add_file(out, "%s/cas/%s/retired.json, issued.jsonl (short-lived revocation probe)",
		      s->home, plan->old_ca) != 0))
		goto oom;
	ret = 0;
	goto out;
oom:
	hsmca_error_set(err, "out of memory");
out:
	if (ic.creds)
		t->creds_free(ic.creds);
	free(old_pem);
	hsmca_ca_free(old);
	return ret;
}

void hsmca_rot_preview_free(struct hsmca_rot_preview *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	free(p->nodes);
	memset(p, 0, sizeof(*p));
}
