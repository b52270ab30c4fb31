/* The rotation plan: built from the command line and the talm project,
 * kept as JSON in the journal's first line. */
#include "rotate/rot_internal.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "kube/kubeconfig.h"
#include "pkcs11/token.h"
#include "talos/talm.h"
#include "talos/talos.h"
#include "talos/yamldoc.h"

static const struct {
	const char *name;
	const char *title;
} steps[HSMCA_ROT_NSTEPS] = {
	{ "prepare", "generate the new access CA key in the token and self-sign its certificate" },
	{ "trust-new", "add the new access CA to every node's accepted CAs (no reboot), read it "
		       "back, confirm the node answers" },
	{ "issue", "write a new credential signed in the token by the new CA; talm node files "
		   "carry the new accepted CA" },
	{ "verify-new", "every node accepts the new credential (fresh TLS connection)" },
	{ "distrust-old", "remove the old access CA from every node and node file" },
	{ "prove-revoked", "a credential signed by the old CA is refused by every node (fresh "
			   "connection)" },
	{ "retire", "destroy the old key in the token; keep its certificate as retired" },
};

const char *hsmca_rot_step_name(enum hsmca_rot_step s)
{
	if ((int)s == HSMCA_ROT_ABORT)
		return "abort";
	return (unsigned)s < HSMCA_ROT_NSTEPS ? steps[s].name : NULL;
}

const char *hsmca_rot_step_title(enum hsmca_rot_step s)
{
	return (unsigned)s < HSMCA_ROT_NSTEPS ? steps[s].title : "";
}

int hsmca_rot_step_parse(const char *s)
{
	int i;

	for (i = 0; i < HSMCA_ROT_NSTEPS; i++)
		if (strcmp(s, steps[i].name) == 0)
			return i;
	if (s[0] >= '1' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '1';
	return -1;
}

const char *hsmca_rot_role_name(enum hsmca_rot_role r)
{
	return r == HSMCA_ROT_CONTROLPLANE ? "controlplane" : "worker";
}

/* ---- string arrays ---- */

static void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char **strv_dup(char *const *v)
{
	size_t n = 0, i;
	char **out;

	while (v && v[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		if (!(out[i] = strdup(v[i]))) {
			strv_free(out);
			return NULL;
		}
	}
	return out;
}

void hsmca_rot_plan_free(struct hsmca_rot_plan *p)
{
	if (!p)
		return;
	strv_free(p->endpoints);
	strv_free(p->tc_nodes);
	free(p->node_ca_pem);
	free(p->nodes);
	memset(p, 0, sizeof(*p));
}

int hsmca_rot_plan_copy(struct hsmca_rot_plan *dst, const struct hsmca_rot_plan *src,
			hsmca_error *err)
{
	*dst = *src;
	dst->endpoints = strv_dup(src->endpoints);
	dst->tc_nodes = strv_dup(src->tc_nodes);
	dst->node_ca_pem = src->node_ca_pem ? strdup(src->node_ca_pem) : NULL;
	dst->nodes = calloc(src->n_nodes ? src->n_nodes : 1, sizeof(*dst->nodes));
	if (!dst->endpoints || !dst->tc_nodes || (src->node_ca_pem && !dst->node_ca_pem) ||
	    !dst->nodes) {
		hsmca_rot_plan_free(dst);
		return hsmca_error_set(err, "out of memory");
	}
	if (src->n_nodes)
		memcpy(dst->nodes, src->nodes, src->n_nodes * sizeof(*dst->nodes));
	return 0;
}

/* ---- JSON ---- */

static json_object *strv_json(char *const *v)
{
	json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; v && v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

json_object *hsmca_rot_plan_to_json(const struct hsmca_rot_plan *p)
{
	json_object *o = json_object_new_object(), *nodes = json_object_new_array();
	size_t i;

#define S(k, v) json_object_object_add(o, k, json_object_new_string(v))
	json_object_object_add(o, "version", json_object_new_int(1));
	S("id", p->id);
	S("target", p->target);
	S("created", p->created);
	S("base_name", p->base_name);
	S("old_ca", p->old_ca);
	S("new_ca", p->new_ca);
	S("key_type", p->key_type);
	S("new_key_label", p->new_key_label);
	S("talosconfig", p->talosconfig);
	S("output", p->output);
	S("context", p->context);
	S("project", p->project);
	S("current_issuer", p->current_issuer);
	S("node_ca_pem", p->node_ca_pem ? p->node_ca_pem : "");
	S("kubeconfig", p->kubeconfig);
	S("kube_context", p->kube_context);
	S("k8s_endpoint", p->k8s_endpoint);
	S("kube_tls_name", p->kube_tls_name);
#undef S
	json_object_object_add(o, "endpoints", strv_json(p->endpoints));
	json_object_object_add(o, "tc_nodes", strv_json(p->tc_nodes));
	json_object_object_add(o, "parallel", json_object_new_int((int)p->parallel));
	for (i = 0; i < p->n_nodes; i++) {
		json_object *n = json_object_new_object();

		json_object_object_add(n, "addr", json_object_new_string(p->nodes[i].addr));
		json_object_object_add(n, "role",
				       json_object_new_string(hsmca_rot_role_name(p->nodes[i].role)));
		json_object_object_add(n, "file", json_object_new_string(p->nodes[i].file));
		json_object_object_add(n, "role_from", json_object_new_string(p->nodes[i].role_from));
		json_object_object_add(n, "api", json_object_new_string(p->nodes[i].api));
		json_object_object_add(n, "api_tls_name",
				       json_object_new_string(p->nodes[i].api_tls_name));
		json_object_object_add(n, "via", json_object_new_string(p->nodes[i].via));
		json_object_object_add(n, "dial", json_object_new_string(p->nodes[i].dial));
		json_object_array_add(nodes, n);
	}
	json_object_object_add(o, "nodes", nodes);
	return o;
}

static int get_str(json_object *o, const char *key, char *out, size_t outlen, hsmca_error *err)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return hsmca_error_set(err, "plan: \"%s\" missing or not a string", key);
	s = json_object_get_string(v);
	if (strlen(s) >= outlen)
		return hsmca_error_set(err, "plan: \"%s\" too long", key);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* A string that journals written before it existed do not have. */
static int opt_str(json_object *o, const char *key, char *out, size_t outlen, hsmca_error *err)
{
	out[0] = '\0';
	return json_object_object_get_ex(o, key, NULL) ? get_str(o, key, out, outlen, err) : 0;
}

static int get_strv(json_object *o, const char *key, char ***out, hsmca_error *err)
{
	json_object *v;
	size_t n, i;
	char **a;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return hsmca_error_set(err, "plan: \"%s\" missing or not an array", key);
	n = json_object_array_length(v);
	a = calloc(n + 1, sizeof(*a));
	if (!a)
		return hsmca_error_set(err, "out of memory");
	for (i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(v, i));

		if (!s || !(a[i] = strdup(s))) {
			strv_free(a);
			return hsmca_error_set(err, "plan: bad \"%s\"", key);
		}
	}
	*out = a;
	return 0;
}

int hsmca_rot_plan_from_json(json_object *o, struct hsmca_rot_plan *p, hsmca_error *err)
{
	json_object *nodes, *v;
	size_t i, n;
	char role[32];

	memset(p, 0, sizeof(*p));
	if (!json_object_object_get_ex(o, "version", &v) || json_object_get_int(v) != 1)
		return hsmca_error_set(err, "plan: unknown version");
	if (get_str(o, "id", p->id, sizeof(p->id), err) != 0 ||
	    get_str(o, "target", p->target, sizeof(p->target), err) != 0 ||
	    get_str(o, "created", p->created, sizeof(p->created), err) != 0 ||
	    get_str(o, "base_name", p->base_name, sizeof(p->base_name), err) != 0 ||
	    get_str(o, "old_ca", p->old_ca, sizeof(p->old_ca), err) != 0 ||
	    get_str(o, "new_ca", p->new_ca, sizeof(p->new_ca), err) != 0 ||
	    get_str(o, "key_type", p->key_type, sizeof(p->key_type), err) != 0 ||
	    get_str(o, "new_key_label", p->new_key_label, sizeof(p->new_key_label), err) != 0 ||
	    get_str(o, "talosconfig", p->talosconfig, sizeof(p->talosconfig), err) != 0 ||
	    get_str(o, "output", p->output, sizeof(p->output), err) != 0 ||
	    get_str(o, "context", p->context, sizeof(p->context), err) != 0 ||
	    get_str(o, "project", p->project, sizeof(p->project), err) != 0 ||
	    get_str(o, "current_issuer", p->current_issuer, sizeof(p->current_issuer), err) != 0 ||
	    get_strv(o, "endpoints", &p->endpoints, err) != 0 ||
	    get_strv(o, "tc_nodes", &p->tc_nodes, err) != 0)
		goto fail;
	if (!json_object_object_get_ex(o, "node_ca_pem", &v) ||
	    !(p->node_ca_pem = strdup(json_object_get_string(v)))) {
		hsmca_error_set(err, "plan: node_ca_pem missing");
		goto fail;
	}
	if (opt_str(o, "kubeconfig", p->kubeconfig, sizeof(p->kubeconfig), err) != 0 ||
	    opt_str(o, "kube_context", p->kube_context, sizeof(p->kube_context), err) != 0 ||
	    opt_str(o, "k8s_endpoint", p->k8s_endpoint, sizeof(p->k8s_endpoint), err) != 0 ||
	    opt_str(o, "kube_tls_name", p->kube_tls_name, sizeof(p->kube_tls_name), err) != 0)
		goto fail;
	if (json_object_object_get_ex(o, "parallel", &v))
		p->parallel = (unsigned)json_object_get_int(v);
	if (p->parallel == 0)
		p->parallel = 1;
	if (!json_object_object_get_ex(o, "nodes", &nodes) ||
	    !json_object_is_type(nodes, json_type_array)) {
		hsmca_error_set(err, "plan: nodes missing");
		goto fail;
	}
	n = json_object_array_length(nodes);
	if (n > HSMCA_ROT_MAX_NODES) {
		hsmca_error_set(err, "plan: too many nodes");
		goto fail;
	}
	p->nodes = calloc(n ? n : 1, sizeof(*p->nodes));
	if (!p->nodes) {
		hsmca_error_set(err, "out of memory");
		goto fail;
	}
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(nodes, i);
		struct hsmca_rot_node *nd = &p->nodes[i];

		if (get_str(e, "addr", nd->addr, sizeof(nd->addr), err) != 0 ||
		    get_str(e, "role", role, sizeof(role), err) != 0 ||
		    get_str(e, "file", nd->file, sizeof(nd->file), err) != 0 ||
		    get_str(e, "role_from", nd->role_from, sizeof(nd->role_from), err) != 0 ||
		    opt_str(e, "api", nd->api, sizeof(nd->api), err) != 0 ||
		    opt_str(e, "api_tls_name", nd->api_tls_name, sizeof(nd->api_tls_name), err) != 0 ||
		    opt_str(e, "via", nd->via, sizeof(nd->via), err) != 0 ||
		    opt_str(e, "dial", nd->dial, sizeof(nd->dial), err) != 0)
			goto fail;
		if (!nd->dial[0]) /* journals from before reach.c: direct */
			snprintf(nd->dial, sizeof(nd->dial), "%s", nd->addr);
		nd->role = strcmp(role, "controlplane") == 0 ? HSMCA_ROT_CONTROLPLANE : HSMCA_ROT_WORKER;
	}
	p->n_nodes = n;
	return 0;
fail:
	hsmca_rot_plan_free(p);
	return -1;
}

/* ---- building ---- */

/* A node known from the talm project. */
struct known {
	char addr[256];
	char file[PATH_MAX];
	int role; /* -1 unknown */
	char role_from[64];
	bool multi;
};

struct known_set {
	struct known *v;
	size_t n;
};

static int role_from_file(const struct hsmca_talm_node_file *f, int *role, char *from,
			  size_t fromlen)
{
	size_t i;

	if (f->machine_type[0]) {
		snprintf(from, fromlen, "machine.type");
		if (strcmp(f->machine_type, "controlplane") == 0 || strcmp(f->machine_type, "init") == 0)
			*role = HSMCA_ROT_CONTROLPLANE;
		else if (strcmp(f->machine_type, "worker") == 0)
			*role = HSMCA_ROT_WORKER;
		else
			*role = -1;
		return 0;
	}
	*role = -1;
	for (i = 0; f->ml.templates && f->ml.templates[i]; i++) {
		char tmp[PATH_MAX];
		const char *b;

		snprintf(tmp, sizeof(tmp), "%s", f->ml.templates[i]);
		b = basename(tmp);
		if (strcmp(b, "controlplane.yaml") == 0 || strcmp(b, "controlplane.yml") == 0)
			*role = HSMCA_ROT_CONTROLPLANE;
		else if (strcmp(b, "worker.yaml") == 0 || strcmp(b, "worker.yml") == 0)
			*role = HSMCA_ROT_WORKER;
		else
			continue;
		snprintf(from, fromlen, "template %s", b);
		return 0;
	}
	return 0;
}

static int known_add_file(struct known_set *ks, const char *path, hsmca_error *err)
{
	struct hsmca_talm_node_file f;
	size_t i, n = 0;
	int role;
	char from[64] = "";

	if (hsmca_talm_node_file_read(path, &f, err) != 0)
		return -1;
	role_from_file(&f, &role, from, sizeof(from));
	while (f.ml.nodes && f.ml.nodes[n])
		n++;
	for (i = 0; i < n; i++) {
		struct known *k, *nv = realloc(ks->v, (ks->n + 1) * sizeof(*ks->v));

		if (!nv) {
			hsmca_talm_node_file_free(&f);
			return hsmca_error_set(err, "out of memory");
		}
		ks->v = nv;
		k = &ks->v[ks->n++];
		memset(k, 0, sizeof(*k));
		snprintf(k->addr, sizeof(k->addr), "%s", f.ml.nodes[i]);
		snprintf(k->file, sizeof(k->file), "%s", path);
		k->role = role;
		snprintf(k->role_from, sizeof(k->role_from), "%s", from);
		k->multi = n > 1;
	}
	hsmca_talm_node_file_free(&f);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .yaml file in <root>/nodes (sorted), `first` first. */
static int known_load_project(struct known_set *ks, const char *root, const char *first,
			      hsmca_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char **names = NULL;
	size_t n = 0, i;
	struct dirent *e;
	DIR *d;
	int ret = -1;

	if (first && known_add_file(ks, first, err) != 0)
		return -1;
	if (hsmca_path_join(dir, sizeof(dir), err, "%s/nodes", root) != 0)
		return -1;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : hsmca_error_errno(err, "cannot list %s", dir);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char **nn;

		if (e->d_name[0] == '.' ||
		    !((l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) ||
		      (l > 4 && strcmp(e->d_name + l - 4, ".yml") == 0)))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			names = nn ? nn : names;
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		names = nn;
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		if (hsmca_path_join(path, sizeof(path), err, "%s/%s", dir, names[i]) != 0)
			goto out;
		if (first && strcmp(path, first) == 0)
			continue;
		if (known_add_file(ks, path, err) != 0)
			goto out;
	}
	ret = 0;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

static const struct known *known_find(const struct known_set *ks, const char *addr)
{
	size_t i;

	for (i = 0; i < ks->n; i++)
		if (strcmp(ks->v[i].addr, addr) == 0)
			return &ks->v[i];
	return NULL;
}

static int check_addr(const char *a, hsmca_error *err)
{
	size_t i;

	if (!a[0] || strlen(a) >= 256)
		return hsmca_error_set(err, "node address \"%s\" is empty or too long", a);
	for (i = 0; a[i]; i++)
		if ((unsigned char)a[i] <= ' ' || a[i] == ',' || a[i] == '"' || a[i] == '\\')
			return hsmca_error_set(err, "node address \"%s\" has a bad character", a);
	return 0;
}

static int add_node(struct hsmca_rot_plan *p, const char *addr, int role, const char *from,
		    const struct known_set *ks, hsmca_error *err)
{
	const struct known *k = known_find(ks, addr);
	struct hsmca_rot_node *n;
	size_t i;

	if (check_addr(addr, err) != 0)
		return -1;
	for (i = 0; i < p->n_nodes; i++)
		if (strcmp(p->nodes[i].addr, addr) == 0)
			return hsmca_error_set(err, "node %s is listed twice", addr);
	if (p->n_nodes == HSMCA_ROT_MAX_NODES)
		return hsmca_error_set(err, "more than %d nodes", HSMCA_ROT_MAX_NODES);
	if (role < 0) {
		if (!k || k->role < 0)
			return hsmca_error_set(err, "node %s: its role is unknown (no talm node file with "
						    "machine.type or a controlplane/worker template names "
						    "it); list it in --control-plane-nodes or "
						    "--worker-nodes", addr);
		role = k->role;
		from = k->role_from;
	}
	if (k && k->multi)
		return hsmca_error_set(err, "node %s: its node file %s names several nodes; hsmca keeps "
					    "accepted CAs in single-node files so that 'talm apply' "
					    "keeps them (split it with 'talm template -I')",
				       addr, k->file);
	n = &p->nodes[p->n_nodes++];
	memset(n, 0, sizeof(*n));
	snprintf(n->addr, sizeof(n->addr), "%s", addr);
	n->role = (enum hsmca_rot_role)role;
	snprintf(n->role_from, sizeof(n->role_from), "%s", from);
	if (k)
		snprintf(n->file, sizeof(n->file), "%s", k->file);
	return 0;
}

/* Control planes first, keeping the given order within each role. */
static void order_nodes(struct hsmca_rot_plan *p)
{
	struct hsmca_rot_node *tmp = malloc(p->n_nodes * sizeof(*tmp));
	size_t i, k = 0;
	int r;

	if (!tmp)
		return; /* already in input order; roles are still right */
	for (r = HSMCA_ROT_CONTROLPLANE; r <= HSMCA_ROT_WORKER; r++)
		for (i = 0; i < p->n_nodes; i++)
			if ((int)p->nodes[i].role == r)
				tmp[k++] = p->nodes[i];
	memcpy(p->nodes, tmp, p->n_nodes * sizeof(*tmp));
	free(tmp);
}

static int build_nodes(const struct hsmca_rot_options *o, struct hsmca_rot_plan *p,
		       const struct known_set *ks, const struct hsmca_talm_node_file *nf,
		       hsmca_error *err)
{
	size_t i;

	p->nodes = calloc(HSMCA_ROT_MAX_NODES, sizeof(*p->nodes));
	if (!p->nodes)
		return hsmca_error_set(err, "out of memory");
	if (o->cp_nodes || o->worker_nodes) {
		for (i = 0; o->cp_nodes && o->cp_nodes[i]; i++)
			if (add_node(p, o->cp_nodes[i], HSMCA_ROT_CONTROLPLANE, "--control-plane-nodes",
				     ks, err) != 0)
				return -1;
		for (i = 0; o->worker_nodes && o->worker_nodes[i]; i++)
			if (add_node(p, o->worker_nodes[i], HSMCA_ROT_WORKER, "--worker-nodes", ks,
				     err) != 0)
				return -1;
		if (o->nodes)
			for (i = 0; o->nodes[i]; i++) {
				size_t j;
				bool seen = false;

				for (j = 0; j < p->n_nodes; j++)
					seen |= strcmp(p->nodes[j].addr, o->nodes[i]) == 0;
				if (!seen && add_node(p, o->nodes[i], -1, "", ks, err) != 0)
					return -1;
			}
	} else if (o->nodes) {
		for (i = 0; o->nodes[i]; i++)
			if (add_node(p, o->nodes[i], -1, "", ks, err) != 0)
				return -1;
	} else if (ks->n) {
		/* The talm project lists the cluster: every node file (never
		 * cluster membership, which can name a VIP or miss a node). */
		for (i = 0; i < ks->n; i++)
			if (add_node(p, ks->v[i].addr, -1, "", ks, err) != 0)
				return -1;
	} else if (nf && nf->ml.nodes && nf->ml.nodes[0]) {
		for (i = 0; nf->ml.nodes[i]; i++)
			if (add_node(p, nf->ml.nodes[i], -1, "", ks, err) != 0)
				return -1;
	}
	if (p->n_nodes == 0)
		return hsmca_error_set(err, "no nodes to rotate: give -f nodes/<node>.yaml in a talm "
					    "project, or --control-plane-nodes/--worker-nodes");
	order_nodes(p);
	return 0;
}

int hsmca_rot_talosconfig_context(const char *path, char *out, size_t outlen, hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *c;
	int ret = -1;

	if (hsmca_read_file(path, 1u << 20, &buf, &len, err) != 0 ||
	    hsmca_talos_yaml_load(buf, len, path, &docs, err) != 0)
		goto out;
	c = hsmca_talos_yaml_str(hsmca_talos_yaml_get(&docs.docs[0], hsmca_talos_yaml_root(&docs, 0),
						      "context", NULL));
	if (!c || !*c || strlen(c) >= outlen) {
		hsmca_error_set(err, "%s: no current context; give --context", path);
		goto out;
	}
	snprintf(out, outlen, "%s", c);
	ret = 0;
out:
	hsmca_talos_yaml_free(&docs);
	if (buf) {
		hsmca_wipe(buf, len);
		free(buf);
	}
	return ret;
}

/* An existing output file must hold no context but ours (the writer
 * would refuse in step 3, half-way through the rotation). */
static int output_contexts_ok(const char *path, const char *context, hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = { 0 };
	yaml_node_t *ctxs;
	yaml_node_pair_t *pr;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = -1;

	if (access(path, F_OK) != 0)
		return 0;
	if (hsmca_read_file(path, 1u << 20, &buf, &len, err) != 0 ||
	    hsmca_talos_yaml_load(buf, len, path, &docs, err) != 0)
		goto out;
	ctxs = hsmca_talos_yaml_get(&docs.docs[0], hsmca_talos_yaml_root(&docs, 0), "contexts", NULL);
	if (ctxs && ctxs->type == YAML_MAPPING_NODE) {
		for (pr = ctxs->data.mapping.pairs.start; pr < ctxs->data.mapping.pairs.top; pr++) {
			const char *k = hsmca_talos_yaml_str(yaml_document_get_node(&docs.docs[0],
										    pr->key));

			if (!k || strcmp(k, context) != 0) {
				hsmca_error_set(err, "%s also holds context \"%s\", which a one-context "
						     "rewrite would drop: give --output FILE for the "
						     "new talosconfig", path, k ? k : "?");
				goto out;
			}
		}
	}
	ret = 0;
out:
	hsmca_talos_yaml_free(&docs);
	if (buf) {
		hsmca_wipe(buf, len);
		free(buf);
	}
	return ret;
}

/* Absolute path of a file that may not exist yet (its directory must). */
static int abs_path(const char *in, char *out, size_t outlen, hsmca_error *err)
{
	char tmp[PATH_MAX], dirbuf[PATH_MAX], real[PATH_MAX];
	const char *base;

	if (realpath(in, real)) {
		if (strlen(real) >= outlen)
			return hsmca_error_set(err, "path too long: %s", in);
		snprintf(out, outlen, "%s", real);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s", in);
	snprintf(dirbuf, sizeof(dirbuf), "%s", in);
	base = basename(tmp);
	if (!realpath(dirname(dirbuf), real))
		return hsmca_error_errno(err, "directory of %s", in);
	return hsmca_path_join(out, outlen, err, "%s/%s", real, base);
}

static void make_id(char *out, size_t outlen)
{
	unsigned char r[4] = { 0 };
	char now[21], hex[9];
	size_t i, k = 0;

	hsmca_format_time(hsmca_now(), now);
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	hsmca_hex(r, sizeof(r), hex);
	/* 2026-11-28T09:30:00Z -> 20261128T093000Z */
	for (i = 0; now[i] && k + 1 < outlen; i++)
		if (now[i] != '-' && now[i] != ':')
			out[k++] = now[i];
	out[k] = '\0';
	snprintf(out + k, outlen - k, "-%s", hex);
}

int hsmca_rot_plan_build(const struct hsmca_rot_options *o, struct hsmca_rot_plan *p,
			 hsmca_error *err)
{
	struct known_set ks = { 0 };
	struct hsmca_talm_node_file nf;
	struct hsmca_talos_creds creds = { 0 };
	char nfpath[PATH_MAX] = "", path[PATH_MAX], **eps = NULL, **tcn = NULL;
	const char *env;
	enum hsmca_key_type kt;
	bool have_nf = false, kube;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	memset(&nf, 0, sizeof(nf));
	if (!hsmca_rot_target_find(o->target ? o->target : "talos")) {
		hsmca_error_set(err, "unknown rotation target \"%s\"", o->target);
		goto out;
	}
	snprintf(p->target, sizeof(p->target), "%s", o->target ? o->target : "talos");
	kube = strcmp(p->target, "kubernetes") == 0;
	snprintf(p->key_type, sizeof(p->key_type), "%s", o->key_type ? o->key_type : "ec-p256");
	if (hsmca_key_type_parse(p->key_type, &kt, err) != 0)
		goto out;
	if (kt == HSMCA_KEY_RSA_2048 || kt == HSMCA_KEY_UNKNOWN) {
		hsmca_error_set(err, "--key-type %s: hsmca does not generate that type", p->key_type);
		goto out;
	}
	snprintf(p->base_name, sizeof(p->base_name), "%s-access", p->target);
	if (o->base_name)
		snprintf(p->base_name, sizeof(p->base_name), "%s", o->base_name);

	/* talm project */
	if (o->node_file) {
		if (!realpath(o->node_file, nfpath)) {
			hsmca_error_errno(err, "node file %s", o->node_file);
			goto out;
		}
		if (hsmca_talm_node_file_read(nfpath, &nf, err) != 0)
			goto out;
		have_nf = true;
		if (hsmca_talm_find_root(nfpath, p->project, sizeof(p->project), err) != 0)
			p->project[0] = '\0'; /* a node file outside a project */
		if (p->project[0]) {
			if (known_load_project(&ks, p->project, nfpath, err) != 0)
				goto out;
		} else if (known_add_file(&ks, nfpath, err) != 0) {
			goto out;
		}
	}
	if (build_nodes(o, p, &ks, have_nf ? &nf : NULL, err) != 0)
		goto out;

	/* credentials */
	if (o->talosconfig) {
		snprintf(path, sizeof(path), "%s", o->talosconfig);
	} else if (p->project[0]) {
		if (hsmca_talm_talosconfig_path(p->project, path, sizeof(path), err) != 0)
			goto out;
	} else if ((env = getenv("TALOSCONFIG")) && *env) {
		snprintf(path, sizeof(path), "%s", env);
	} else {
		hsmca_error_set(err, "no talosconfig: give --talosconfig FILE, -f a node file of a talm "
				     "project, or set TALOSCONFIG");
		goto out;
	}
	if (!realpath(path, p->talosconfig)) {
		hsmca_error_errno(err, "talosconfig %s", path);
		goto out;
	}
	if (o->context)
		snprintf(p->context, sizeof(p->context), "%s", o->context);
	else if (hsmca_rot_talosconfig_context(p->talosconfig, p->context, sizeof(p->context), err) != 0)
		goto out;
	if (hsmca_talos_creds_from_talosconfig(p->talosconfig, p->context, &creds, &eps, &tcn, err) !=
	    0)
		goto out;
	if (!kube) {
		if (abs_path(o->output ? o->output : p->talosconfig, p->output, sizeof(p->output),
			     err) != 0 ||
		    output_contexts_ok(p->output, p->context, err) != 0)
			goto out;
		p->node_ca_pem = strdup(creds.ca_pem);
		p->endpoints = strv_dup(o->endpoints ? o->endpoints
				       : eps && eps[0] ? eps
				       : have_nf && nf.ml.endpoints ? nf.ml.endpoints : eps);
		p->tc_nodes = strv_dup(tcn);
		if (!p->node_ca_pem || !p->endpoints || !p->tc_nodes) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		/* Calls go to endpoints in talosctl's precedence, the talm modeline
		 * standing in for the --endpoints flag as talm passes it. */
		if (hsmca_rot_assign_reach(p, o->endpoints ? o->endpoints
					   : have_nf && nf.ml.endpoints && nf.ml.endpoints[0]
						   ? nf.ml.endpoints : eps, err) != 0)
			goto out;
	} else if (hsmca_rot_assign_reach(p, NULL, err) != 0) {
		goto out;
	}

	/* access CA generations */
	if (hsmca_rot_current_ca(o->home, p->target, p->old_ca, err) != 0 ||
	    hsmca_rot_next_generation(o->home, p->base_name, p->new_ca, err) != 0)
		goto out;
	if (p->old_ca[0] && hsmca_rot_is_retired(o->home, p->old_ca)) {
		hsmca_error_set(err, "the current access CA %s is marked retired; the state directory "
				     "is inconsistent", p->old_ca);
		goto out;
	}
	snprintf(p->new_key_label, sizeof(p->new_key_label), "%s-key", p->new_ca);
	if (kube) {
		if (hsmca_rot_plan_kube(o, p, err) != 0 ||
		    abs_path(o->output ? o->output : p->kubeconfig, p->output, sizeof(p->output),
			     err) != 0 ||
		    hsmca_kubeconfig_replace_ok(p->output, p->kube_context, err) != 0)
			goto out;
	} else {
		hsmca_rot_describe_issuer(o->home, creds.crt_pem, creds.ca_pem, p->old_ca,
					  p->current_issuer, sizeof(p->current_issuer));
	}
	hsmca_format_time(hsmca_now(), p->created);
	make_id(p->id, sizeof(p->id));
	p->parallel = o->parallel ? o->parallel : 3;
	if (p->parallel > 32)
		p->parallel = 32;
	ret = 0;
out:
	hsmca_talos_creds_clear(&creds);
	hsmca_talos_strv_free(eps);
	hsmca_talos_strv_free(tcn);
	if (have_nf)
		hsmca_talm_node_file_free(&nf);
	free(ks.v);
	if (ret != 0)
		hsmca_rot_plan_free(p);
	return ret;
}
