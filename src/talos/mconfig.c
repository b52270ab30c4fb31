/* Accepted-CA edits on a Talos machine config by text splicing (mconfig.h). */
#include "talos/mconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "common/b64.h"
#include "talos/splice.h"
#include "talos/yamldoc.h"

#define MAX_DEPTH 64
#define MAX_ITEMS 256

/* ---- locating the list */

struct loc {
	yaml_document_t *doc;
	yaml_node_t *parent; /* block mapping that holds (or will hold) acceptedCAs */
	yaml_node_t *key;    /* the acceptedCAs key, or NULL */
	yaml_node_t *seq;    /* its value (sequence or null scalar), or NULL */
	bool pem_items;      /* plain PEM strings (KubeAPIServerCAConfig) */
	const char *path;
};

static yaml_node_t *v1alpha1_root(struct hsmca_talos_ydocs *d, yaml_document_t **doc)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		yaml_node_t *r = hsmca_talos_yaml_root(d, i);

		if (r && r->type == YAML_MAPPING_NODE &&
		    (hsmca_talos_yaml_get(&d->docs[i], r, "machine", NULL) ||
		     hsmca_talos_yaml_get(&d->docs[i], r, "cluster", NULL))) {
			*doc = &d->docs[i];
			return r;
		}
	}
	return NULL;
}

/* How often `key` is a key of `map`.  Talos and talosctl decode with Go's
 * yaml.v3, which refuses a mapping that repeats a key; hsmca would edit the
 * first copy only, so a repeated key on the path it edits is refused too. */
static size_t key_count(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	const yaml_node_pair_t *pair;
	size_t n = 0;

	if (!map || map->type != YAML_MAPPING_NODE)
		return 0;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		const char *s = hsmca_talos_yaml_str(yaml_document_get_node(doc, pair->key));

		if (s && strcmp(s, key) == 0)
			n++;
	}
	return n;
}

static int locate(struct hsmca_talos_ydocs *d, enum hsmca_mconfig_target t, struct loc *l,
		  hsmca_error *err)
{
	yaml_node_t *root;
	size_t i;

	memset(l, 0, sizeof(*l));
	if (t == HSMCA_MCONFIG_CLUSTER_ACCEPTED) {
		for (i = 0; i < d->n; i++) {
			yaml_node_t *r = hsmca_talos_yaml_root(d, i);
			const char *kind = hsmca_talos_yaml_str(
				hsmca_talos_yaml_get(&d->docs[i], r, "kind", NULL));

			if (kind && strcmp(kind, "KubeAPIServerCAConfig") == 0) {
				l->doc = &d->docs[i];
				l->parent = r;
				l->pem_items = true;
				l->path = "KubeAPIServerCAConfig.acceptedCAs";
				break;
			}
		}
	}
	if (!l->parent) {
		const char *sect = t == HSMCA_MCONFIG_MACHINE_ACCEPTED ? "machine" : "cluster";

		root = v1alpha1_root(d, &l->doc);
		if (!root)
			return hsmca_error_set(err, "machine config: no v1alpha1 document "
						    "(no top-level machine or cluster section)");
		if (key_count(l->doc, root, sect) > 1)
			return hsmca_error_set(err, "machine config: the %s section appears twice", sect);
		l->parent = hsmca_talos_yaml_get(l->doc, root, sect, NULL);
		l->path = t == HSMCA_MCONFIG_MACHINE_ACCEPTED ? "machine.acceptedCAs"
							      : "cluster.acceptedCAs";
		if (!l->parent || l->parent->type != YAML_MAPPING_NODE)
			return hsmca_error_set(err, "machine config: no %s section", sect);
	}
	if (l->parent->data.mapping.style != YAML_BLOCK_MAPPING_STYLE ||
	    l->parent->data.mapping.pairs.top == l->parent->data.mapping.pairs.start)
		return hsmca_error_set(err,
				       "machine config: the mapping holding %s is not a "
				       "non-empty block mapping; hsmca does not edit that layout",
				       l->path);
	if (key_count(l->doc, l->parent, "acceptedCAs") > 1)
		return hsmca_error_set(err, "machine config: %s appears twice", l->path);
	l->seq = hsmca_talos_yaml_get(l->doc, l->parent, "acceptedCAs", &l->key);
	if (l->seq && l->seq->type != YAML_SEQUENCE_NODE && !hsmca_talos_yaml_is_null(l->seq))
		return hsmca_error_set(err, "machine config: %s is not a list", l->path);
	return 0;
}

static size_t seq_count(const struct loc *l)
{
	if (!l->seq || l->seq->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(l->seq->data.sequence.items.top - l->seq->data.sequence.items.start);
}

static yaml_node_t *seq_item(const struct loc *l, size_t i)
{
	return yaml_document_get_node(l->doc, l->seq->data.sequence.items.start[i]);
}

/* ---- certificates */

/* Exactly one PEM certificate in pem[0..len) -> X509. */
static int one_cert(const char *pem, size_t len, const char *what, X509 **out, hsmca_error *err)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	const unsigned char *dp;
	long dlen = 0;
	X509 *x = NULL;
	int count = 0, ret = -1;

	if (!bio || len > INT32_MAX)
		goto bad;
	while (PEM_read_bio(bio, &name, &header, &data, &dlen) == 1) {
		bool cert = strcmp(name, "CERTIFICATE") == 0;

		if (cert && count == 0) {
			dp = data;
			x = d2i_X509(NULL, &dp, dlen);
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, (size_t)dlen);
		name = header = NULL;
		data = NULL;
		if (!cert) {
			hsmca_error_set(err, "%s holds a PEM block that is not a certificate",
					what);
			goto out;
		}
		count++;
	}
	ERR_clear_error();
	if (count != 1 || !x) {
		if (count > 1)
			hsmca_error_set(err, "%s holds %d certificates; one per entry is expected",
					what, count);
		else
			goto bad;
		goto out;
	}
	*out = x;
	x = NULL;
	ret = 0;
	goto out;
bad:
	ERR_clear_error();
	hsmca_error_set(err, "%s is not a PEM certificate", what);
out:
	X509_free(x);
	BIO_free(bio);
	return ret;
}

static int cert_fp(X509 *x, uint8_t fp[32], hsmca_error *err)
{
	unsigned n = 0;

	if (X509_digest(x, EVP_sha256(), fp, &n) != 1 || n != 32)
		return hsmca_error_openssl(err, "certificate fingerprint");
	return 0;
}

/* SHA-256 of the DER of list item i. */
static int item_fp(const struct loc *l, size_t i, uint8_t fp[32], hsmca_error *err)
{
	yaml_node_t *it = seq_item(l, i);
	const char *s;
	uint8_t *pem = NULL;
	size_t pemlen = 0;
	X509 *x = NULL;
	char what[96];
	int ret = -1;

	snprintf(what, sizeof(what), "%s[%zu]", l->path, i);
	if (l->pem_items) {
		s = hsmca_talos_yaml_str(it);
		if (!s)
			return hsmca_error_set(err, "machine config: %s is not a PEM string", what);
		if (one_cert(s, it->data.scalar.length, what, &x, err) != 0)
			goto out;
	} else {
		s = hsmca_talos_yaml_str(hsmca_talos_yaml_get(l->doc, it, "crt", NULL));
		if (!s) {
			hsmca_error_set(err, "machine config: %s has no crt", what);
			goto out;
		}
		if (hsmca_b64_decode(s, strlen(s), what, &pem, &pemlen, err) != 0 ||
		    one_cert((const char *)pem, pemlen, what, &x, err) != 0)
			goto out;
	}
	ret = cert_fp(x, fp, err);
out:
	if (ret != 0)
		hsmca_error_prefix(err, "machine config");
	X509_free(x);
	free(pem);
	return ret;
}

/* The CA to add or remove: one CA certificate, re-encoded canonically. */
static int parse_ca(const char *ca_pem, uint8_t fp[32], char **canon, hsmca_error *err)
{
	X509 *x = NULL;
	BIO *mem = NULL;
	BUF_MEM *bm;
	int ret = -1;

	if (!ca_pem)
		return hsmca_error_set(err, "no CA certificate given");
	if (one_cert(ca_pem, strlen(ca_pem), "the CA certificate", &x, err) != 0)
		return -1;
	if (X509_check_ca(x) < 1) {
		hsmca_error_set(err, "the certificate to accept is not a CA certificate "
				     "(basicConstraints CA:TRUE missing)");
		goto out;
	}
	if (cert_fp(x, fp, err) != 0)
		goto out;
	mem = BIO_new(BIO_s_mem());
	if (!mem || PEM_write_bio_X509(mem, x) != 1) {
		hsmca_error_openssl(err, "encode the CA certificate");
		goto out;
	}
	BIO_get_mem_ptr(mem, &bm);
	*canon = strndup(bm->data, bm->length);
	if (!*canon) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	ret = 0;
out:
	BIO_free(mem);
	X509_free(x);
	return ret;
}

/* One block-sequence entry at `dash` columns, ending in a newline. */
static void block_item(struct hsmca_talos_sbuf *b, const struct loc *l, size_t dash,
		       const char *pem, const char *b64)
{
	hsmca_talos_sb_spaces(b, dash);
	if (!l->pem_items) {
		hsmca_talos_sb_str(b, "- crt: ");
		hsmca_talos_sb_str(b, b64);
		hsmca_talos_sb_str(b, "\n");
		return;
	}
	hsmca_talos_sb_str(b, "- |\n");
	while (*pem) {
		const char *nl = strchr(pem, '\n');
		size_t n = nl ? (size_t)(nl - pem) : strlen(pem);

		if (n > 0) {
			hsmca_talos_sb_spaces(b, dash + 2);
			hsmca_talos_sb_add(b, pem, n);
		}
		hsmca_talos_sb_str(b, "\n");
		pem += n + (nl ? 1 : 0);
	}
}

/* One flow-sequence entry. */
static void flow_item(struct hsmca_talos_sbuf *b, const struct loc *l, const char *pem,
		      const char *b64)
{
	const char *p;

	if (!l->pem_items) {
		hsmca_talos_sb_str(b, "{crt: ");
		hsmca_talos_sb_str(b, b64);
		hsmca_talos_sb_str(b, "}");
		return;
	}
	hsmca_talos_sb_str(b, "\"");
	for (p = pem; *p; p++) {
		if (*p == '\n')
			hsmca_talos_sb_str(b, "\\n");
		else
			hsmca_talos_sb_add(b, p, 1);
	}
	hsmca_talos_sb_str(b, "\"");
}

/* Indentation step of the document: a nested block mapping's key column
 * minus its parent's; Talos writes 4. */
static size_t indent_step(yaml_document_t *doc, yaml_node_t *map)
{
	yaml_node_pair_t *pr;

	for (pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(doc, pr->key);
		yaml_node_t *v = yaml_document_get_node(doc, pr->value);

		if (v->type == YAML_MAPPING_NODE &&
		    v->data.mapping.style == YAML_BLOCK_MAPPING_STYLE &&
		    v->start_mark.column > k->start_mark.column)
			return v->start_mark.column - k->start_mark.column;
	}
	return 4;
}

/* Byte offset of item i's dash in a block sequence. */
static int dash_off(const struct hsmca_talos_text *t, const struct loc *l, size_t i, size_t *off,
		    hsmca_error *err)
{
	size_t o;

	if (i == 0) {
		o = hsmca_talos_mark_off(t, l->seq->start_mark);
	} else {
		o = hsmca_talos_mark_off(t, seq_item(l, i - 1)->end_mark);
		while (o < t->len) {
			if (t->p[o] == '#') {
				o = hsmca_talos_line_end(t, o);
			} else if (t->p[o] == ' ' || t->p[o] == '\t' || t->p[o] == '\r' ||
				   t->p[o] == '\n') {
				o++;
			} else {
				break;
			}
		}
	}
	if (o >= t->len || t->p[o] != '-' || !hsmca_talos_blank(t, hsmca_talos_line_start(t, o), o))
		return hsmca_error_set(err,
				       "machine config: %s[%zu] is laid out in a way hsmca "
				       "does not edit (entry not on its own line)",
				       l->path, i);
	*off = o;
	return 0;
}

/* Rewrite a flow sequence with the kept items (verbatim) and maybe one more. */
static int plan_flow(const struct hsmca_talos_text *t, const struct loc *l, const bool *drop,
		     const char *pem, const char *b64, struct hsmca_talos_plan *p, hsmca_error *err)
{
	size_t i, n = seq_count(l), written = 0;
	struct hsmca_talos_edit *e =
		hsmca_talos_plan_add(p, hsmca_talos_mark_off(t, l->seq->start_mark),
				     hsmca_talos_mark_off(t, l->seq->end_mark));

	if (!e)
		return hsmca_error_set(err, "machine config: too many edits");
	hsmca_talos_sb_str(&e->text, "[");
	for (i = 0; i < n; i++) {
		yaml_node_t *it = seq_item(l, i);
		size_t a = hsmca_talos_mark_off(t, it->start_mark),
		       z = hsmca_talos_mark_off(t, it->end_mark);

		if (drop && drop[i])
			continue;
		if (written++)
			hsmca_talos_sb_str(&e->text, ", ");
		hsmca_talos_sb_add(&e->text, (const char *)t->p + a, z - a);
	}
	if (pem) {
		if (written)
			hsmca_talos_sb_str(&e->text, ", ");
		flow_item(&e->text, l, pem, b64);
	}
	hsmca_talos_sb_str(&e->text, "]");
	return 0;
}

/* acceptedCAs absent or null: write the key and a one-entry block list. */
static int plan_new_key(const struct hsmca_talos_text *t, const struct loc *l, const char *pem,
			const char *b64, struct hsmca_talos_plan *p, hsmca_error *err)
{
	yaml_node_t *first =
		yaml_document_get_node(l->doc, l->parent->data.mapping.pairs.start->key);
	size_t key_col = first->start_mark.column, start, end;
	struct hsmca_talos_edit *e;

	if (l->key) {
		/* "acceptedCAs:", "acceptedCAs: ~", "acceptedCAs: []": replace
		 * those lines (an empty null's mark may lie on the next token). */
		start = hsmca_talos_line_start(t, hsmca_talos_mark_off(t, l->key->start_mark));
		end = hsmca_talos_line_end(t, hsmca_talos_mark_off(t, l->key->end_mark));
		if (l->seq && (l->seq->type != YAML_SCALAR_NODE || l->seq->data.scalar.length > 0))
			end = hsmca_talos_line_end(t, hsmca_talos_mark_off(t, l->seq->end_mark));
		if (!hsmca_talos_blank(t, start, hsmca_talos_mark_off(t, l->key->start_mark)))
			return hsmca_error_set(err, "machine config: %s key is not on its own line",
					       l->path);
	} else {
		start = end = hsmca_talos_node_end(t, l->doc, l->parent);
	}
	e = hsmca_talos_plan_add(p, start, end);
	if (!e)
		return hsmca_error_set(err, "machine config: too many edits");
	if (start > 0 && start == t->len && t->p[start - 1] != '\n' && t->p[start - 1] != '\r')
		hsmca_talos_sb_str(&e->text, "\n");
	hsmca_talos_sb_spaces(&e->text, key_col);
	hsmca_talos_sb_str(&e->text, "acceptedCAs:\n");
	block_item(&e->text, l, key_col + indent_step(l->doc, l->parent), pem, b64);
	return 0;
}

/* ---- verification of the result */

static bool scalar_eq(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

/* Same tree, except the acceptedCAs pair of the two target parents. */
static bool same_tree(yaml_document_t *da, yaml_node_t *a, yaml_document_t *db, yaml_node_t *b,
		      const yaml_node_t *skip_a, const yaml_node_t *skip_b, int depth)
{
	if (!a || !b)
		return a == b;
	if (a == skip_a && !skip_b && b->type == YAML_SCALAR_NODE && hsmca_talos_yaml_is_null(b)) {
		/* The list was all the parent held: the parent is now null. */
		yaml_node_pair_t *pa;

		for (pa = a->data.mapping.pairs.start; pa < a->data.mapping.pairs.top; pa++) {
			const char *k = hsmca_talos_yaml_str(yaml_document_get_node(da, pa->key));

			if (!k || strcmp(k, "acceptedCAs") != 0)
				return false;
		}
		return true;
	}
	if (depth > MAX_DEPTH || a->type != b->type ||
	    strcmp((const char *)a->tag, (const char *)b->tag) != 0)
		return false;
	if (a->type == YAML_SCALAR_NODE)
		return scalar_eq(a, b);
	if (a->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *ia = a->data.sequence.items.start,
				 *ib = b->data.sequence.items.start;

		if (a->data.sequence.items.top - ia != b->data.sequence.items.top - ib)
			return false;
		for (; ia < a->data.sequence.items.top; ia++, ib++) {
			if (!same_tree(da, yaml_document_get_node(da, *ia), db,
				       yaml_document_get_node(db, *ib), skip_a, skip_b, depth + 1))
				return false;
		}
		return true;
	}
	{
		yaml_node_pair_t *pa = a->data.mapping.pairs.start,
				 *pb = b->data.mapping.pairs.start;
		bool skip = a == skip_a && b == skip_b;

		for (;;) {
			yaml_node_t *ka, *kb;

			while (skip && pa < a->data.mapping.pairs.top &&
			       (ka = yaml_document_get_node(da, pa->key))->type ==
				       YAML_SCALAR_NODE &&
			       strcmp((const char *)ka->data.scalar.value, "acceptedCAs") == 0)
				pa++;
			while (skip && pb < b->data.mapping.pairs.top &&
			       (kb = yaml_document_get_node(db, pb->key))->type ==
				       YAML_SCALAR_NODE &&
			       strcmp((const char *)kb->data.scalar.value, "acceptedCAs") == 0)
				pb++;
			if (pa == a->data.mapping.pairs.top || pb == b->data.mapping.pairs.top)
				return pa == a->data.mapping.pairs.top &&
				       pb == b->data.mapping.pairs.top;
			if (!same_tree(da, yaml_document_get_node(da, pa->key), db,
				       yaml_document_get_node(db, pb->key), skip_a, skip_b,
				       depth + 1) ||
			    !same_tree(da, yaml_document_get_node(da, pa->value), db,
				       yaml_document_get_node(db, pb->value), skip_a, skip_b,
				       depth + 1))
				return false;
			pa++;
			pb++;
		}
	}
}

/* Parse the edited text again: the list must be `want`, nothing else may
 * differ from the original. */
static int verify(struct hsmca_talos_ydocs *orig, const struct loc *lo, const uint8_t *out,
		  size_t outlen, enum hsmca_mconfig_target t, const uint8_t (*want)[32],
		  size_t nwant, hsmca_error *err)
{
	struct hsmca_talos_ydocs nd = {0};
	struct loc ln;
	size_t i;
	int ret = -1;

	if (hsmca_talos_yaml_load(out, outlen, "edited machine config", &nd, err) != 0)
		goto out;
	if (locate(&nd, t, &ln, err) != 0) {
		/* Emptying a list that was all its parent held leaves the
		 * parent null (a talm node body): the tree check below
		 * accepts exactly that. */
		if (nwant != 0)
			goto out;
		memset(&ln, 0, sizeof(ln));
	}
	if (seq_count(&ln) != nwant)
		goto bad;
	for (i = 0; i < nwant; i++) {
		uint8_t fp[32];

		if (item_fp(&ln, i, fp, err) != 0)
			goto out;
		if (memcmp(fp, want[i], 32) != 0)
			goto bad;
	}
	if (nd.n != orig->n)
		goto bad;
	for (i = 0; i < nd.n; i++) {
		if (!same_tree(&orig->docs[i], hsmca_talos_yaml_root(orig, i), &nd.docs[i],
			       hsmca_talos_yaml_root(&nd, i),
			       lo->doc == &orig->docs[i] ? lo->parent : NULL,
			       ln.doc == &nd.docs[i] ? ln.parent : NULL, 0))
			goto bad;
	}
	ret = 0;
	goto out;
bad:
	hsmca_error_set(err,
			"machine config: internal check failed: the edit of %s would change "
			"more than that list; refused",
			lo->path);
out:
	hsmca_talos_yaml_free(&nd);
	return ret;
}

/* ---- public */

static int copy_out(const uint8_t *yaml, size_t len, uint8_t **out, size_t *outlen,
		    hsmca_error *err)
{
	uint8_t *p = malloc(len + 1);

	if (!p)
		return hsmca_error_set(err, "machine config: out of memory");
	memcpy(p, yaml, len);
	p[len] = '\0';
	*out = p;
	*outlen = len;
	return 0;
}

static int edit(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t, const char *ca_pem,
		bool add, uint8_t **out, size_t *outlen, bool *changed, hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = {0};
	struct hsmca_talos_text txt = {0};
	struct hsmca_talos_plan plan = {.n = 0};
	struct loc l;
	uint8_t fp[32], (*fps)[32] = NULL, *res = NULL;
	bool drop[MAX_ITEMS] = {false};
	char *canon = NULL, *b64 = NULL;
	size_t i, n, nkeep = 0, reslen = 0;
	bool found = false;
	int ret = -1;

	if (parse_ca(ca_pem, fp, &canon, err) != 0 ||
	    hsmca_talos_yaml_load(yaml, len, "machine config", &docs, err) != 0 ||
	    locate(&docs, t, &l, err) != 0 || hsmca_talos_text_index(&txt, yaml, len, err) != 0)
		goto out;
	n = seq_count(&l);
	if (n > MAX_ITEMS) {
		hsmca_error_set(err, "machine config: %s has more than %d entries", l.path,
				MAX_ITEMS);
		goto out;
	}
	fps = malloc((n + 1) * sizeof(*fps));
	if (!fps) {
		hsmca_error_set(err, "machine config: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		uint8_t ifp[32];

		if (item_fp(&l, i, ifp, err) != 0)
			goto out;
		drop[i] = memcmp(ifp, fp, 32) == 0;
		found = found || drop[i];
		if (!drop[i] || add)
			memcpy(fps[nkeep++], ifp, 32);
	}
	if (add == found) {
		/* Already there / already absent. */
		if (copy_out(yaml, len, out, outlen, err) != 0)
			goto out;
		*changed = false;
		ret = 0;
		goto out;
	}
	if (hsmca_b64_encode((const uint8_t *)canon, strlen(canon), &b64, err) != 0)
		goto out;
	if (add) {
		memcpy(fps[nkeep++], fp, 32);
		if (n > 0 && l.seq->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE) {
			if (plan_flow(&txt, &l, NULL, canon, b64, &plan, err) != 0)
				goto out;
		} else if (n > 0) {
			size_t d0, at = hsmca_talos_node_end(&txt, l.doc, seq_item(&l, n - 1));
			struct hsmca_talos_edit *e;

			if (dash_off(&txt, &l, 0, &d0, err) != 0)
				goto out;
			e = hsmca_talos_plan_add(&plan, at, at);
			if (at == txt.len && at > 0 && yaml[at - 1] != '\n' && yaml[at - 1] != '\r')
				hsmca_talos_sb_str(&e->text, "\n");
			block_item(&e->text, &l, d0 - hsmca_talos_line_start(&txt, d0), canon, b64);
		} else if (plan_new_key(&txt, &l, canon, b64, &plan, err) != 0) {
			goto out;
		}
	} else if (l.seq->data.sequence.style == YAML_FLOW_SEQUENCE_STYLE) {
		if (plan_flow(&txt, &l, drop, NULL, NULL, &plan, err) != 0)
			goto out;
	} else if (nkeep == 0) {
		size_t ks = hsmca_talos_mark_off(&txt, l.key->start_mark);

		if (!hsmca_talos_blank(&txt, hsmca_talos_line_start(&txt, ks), ks)) {
			hsmca_error_set(err, "machine config: %s key is not on its own line",
					l.path);
			goto out;
		}
		hsmca_talos_plan_add(&plan, hsmca_talos_line_start(&txt, ks),
				     hsmca_talos_node_end(&txt, l.doc, l.seq));
	} else {
		for (i = 0; i < n; i++) {
			size_t d;

			if (!drop[i])
				continue;
			if (dash_off(&txt, &l, i, &d, err) != 0)
				goto out;
			if (!hsmca_talos_plan_add(
				    &plan, hsmca_talos_line_start(&txt, d),
				    hsmca_talos_node_end(&txt, l.doc, seq_item(&l, i)))) {
				hsmca_error_set(err, "machine config: too many edits");
				goto out;
			}
		}
	}
	if (hsmca_talos_plan_apply(&txt, &plan, &res, &reslen, err) != 0 ||
	    verify(&docs, &l, res, reslen, t, (const uint8_t(*)[32])fps, nkeep, err) != 0)
		goto out;
	*out = res;
	*outlen = reslen;
	res = NULL;
	*changed = true;
	ret = 0;
out:
	if (res) {
		hsmca_wipe(res, reslen);
		free(res);
	}
	hsmca_talos_plan_free(&plan);
	hsmca_talos_yaml_free(&docs);
	hsmca_talos_text_free(&txt);
	free(fps);
	free(canon);
	free(b64);
	return ret;
}

int hsmca_mconfig_accepted_add(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t,
			       const char *ca_pem, uint8_t **out, size_t *outlen, bool *changed,
			       hsmca_error *err)
{
	return edit(yaml, len, t, ca_pem, true, out, outlen, changed, err);
}

int hsmca_mconfig_accepted_remove(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t,
				  const char *ca_pem, uint8_t **out, size_t *outlen, bool *changed,
				  hsmca_error *err)
{
	return edit(yaml, len, t, ca_pem, false, out, outlen, changed, err);
}

int hsmca_mconfig_accepted_list(const uint8_t *yaml, size_t len, enum hsmca_mconfig_target t,
				uint8_t (**fps)[32], size_t *n, hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = {0};
	uint8_t(*v)[32] = NULL;
	struct loc l;
	size_t i, cnt;
	int ret = -1;

	if (hsmca_talos_yaml_load(yaml, len, "machine config", &docs, err) != 0 ||
	    locate(&docs, t, &l, err) != 0)
		goto out;
	cnt = seq_count(&l);
	if (cnt > 0) {
		v = malloc(cnt * sizeof(*v));
		if (!v) {
			hsmca_error_set(err, "machine config: out of memory");
			goto out;
		}
	}
	for (i = 0; i < cnt; i++) {
		if (item_fp(&l, i, v[i], err) != 0)
			goto out;
	}
	*fps = v;
	*n = cnt;
	v = NULL;
	ret = 0;
out:
	free(v);
	hsmca_talos_yaml_free(&docs);
	return ret;
}

int hsmca_mconfig_machine_type(const uint8_t *yaml, size_t len, char *type, size_t typelen,
			       hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = {0};
	yaml_document_t *doc = NULL;
	yaml_node_t *root;
	const char *s;
	int ret = -1;

	if (hsmca_talos_yaml_load(yaml, len, "machine config", &docs, err) != 0)
		goto out;
	root = v1alpha1_root(&docs, &doc);
	s = root ? hsmca_talos_yaml_str(hsmca_talos_yaml_get(
			   doc, hsmca_talos_yaml_get(doc, root, "machine", NULL), "type", NULL))
		 : NULL;
	if (!s || !*s) {
		hsmca_error_set(err, "machine config: no machine.type");
		goto out;
	}
	if (strlen(s) >= typelen) {
		hsmca_error_set(err, "machine config: machine.type too long");
		goto out;
	}
	strcpy(type, s);
	ret = 0;
out:
	hsmca_talos_yaml_free(&docs);
	return ret;
}
