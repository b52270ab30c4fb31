/* talm project files (talm.h). */
#include "talos/talm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "common/fsutil.h"
#include "common/util.h"
#include "common/b64.h"
#include "talos/yamldoc.h"

#define NODE_FILE_MAX   (4u << 20)
#define TALOSCONFIG_MAX (1u << 20)

/* The modeline parser is in modeline.c. */

/* ---- node files */

void hsmca_talm_node_file_free(struct hsmca_talm_node_file *f)
{
	if (!f)
		return;
	hsmca_talm_modeline_free(&f->ml);
	memset(f, 0, sizeof(*f));
}

/* The modeline: among the leading blank and comment lines, the first that
 * starts with "# talm:" at column 0.  One below YAML content is an error. */
static int find_modeline(const uint8_t *text, size_t len, const char *name, size_t *start,
			 size_t *mlen, unsigned *lineno, hsmca_error *err)
{
	size_t off = 0;
	unsigned line = 0;
	bool content = false;

	while (off < len) {
		const uint8_t *nl = memchr(text + off, '\n', len - off);
		size_t e = nl ? (size_t)(nl - text) : len, i = off;

		line++;
		while (i < e && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
			i++;
		/* Leading blanks are trimmed before "# talm:" (talm's
		 * FindAndParseModeline); below content only a column-0 one
		 * counts as a misplaced modeline, as in talm. */
		if (e - i >= 7 && memcmp(text + i, "# talm:", 7) == 0 &&
		    (!content || i == off)) {
			if (content)
				return hsmca_error_set(err,
						       "%s:%u: talm modeline found below "
						       "non-comment content",
						       name, line);
			*start = off;
			*mlen = e - off;
			*lineno = line;
			return 0;
		}
		if (i < e && text[i] != '#')
			content = true;
		off = e + 1;
	}
	return hsmca_error_set(err, "%s: no talm modeline (# talm: nodes=[...], ...)", name);
}

int hsmca_talm_node_file_parse(const uint8_t *text, size_t len, const char *name,
			       struct hsmca_talm_node_file *out, hsmca_error *err)
{
	struct hsmca_talm_node_file f = {0};
	struct hsmca_talos_ydocs docs = {0};
	size_t ms = 0, ml = 0, i;
	int ret = -1;

	if (find_modeline(text, len, name, &ms, &ml, &f.modeline_line, err) != 0)
		return -1;
	if (hsmca_talm_parse_modeline((const char *)text + ms, ml, &f.ml, err) != 0) {
		hsmca_error_prefix(err, "%s:%u", name, f.modeline_line);
		goto out;
	}
	if (hsmca_talos_yaml_load(text, len, name, &docs, err) != 0)
		goto out;
	for (i = 0; i < docs.n; i++) {
		yaml_node_t *r = hsmca_talos_yaml_root(&docs, i);
		yaml_node_t *m = hsmca_talos_yaml_get(&docs.docs[i], r, "machine", NULL);
		const char *t =
			hsmca_talos_yaml_str(hsmca_talos_yaml_get(&docs.docs[i], m, "type", NULL));

		if (t) {
			if (strlen(t) >= sizeof(f.machine_type)) {
				hsmca_error_set(err, "%s: machine.type too long", name);
				goto out;
			}
			strcpy(f.machine_type, t);
			break;
		}
	}
	*out = f;
	memset(&f, 0, sizeof(f));
	ret = 0;
out:
	hsmca_talos_yaml_free(&docs);
	hsmca_talm_node_file_free(&f);
	return ret;
}

int hsmca_talm_node_file_read(const char *path, struct hsmca_talm_node_file *out, hsmca_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret;

	if (hsmca_read_file(path, NODE_FILE_MAX, &buf, &len, err) != 0)
		return -1;
	ret = hsmca_talm_node_file_parse(buf, len, path, out, err);
	free(buf);
	return ret;
}

/* ---- project */

int hsmca_talm_find_root(const char *node_file, char *root, size_t rootlen, hsmca_error *err)
{
	char real[PATH_MAX], probe[PATH_MAX + 16];
	char *slash;

	if (!realpath(node_file, real))
		return hsmca_error_errno(err, "cannot resolve %s", node_file);
	for (;;) {
		slash = strrchr(real, '/');
		if (!slash)
			break;
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/Chart.yaml", strcmp(real, "/") ? real : "");
		if (access(probe, F_OK) == 0)
			return hsmca_path_join(root, rootlen, err, "%s", real);
		if (strcmp(real, "/") == 0)
			break;
	}
	return hsmca_error_set(err, "%s: not inside a talm project (no Chart.yaml above it)",
			       node_file);
}

int hsmca_talm_talosconfig_path(const char *root, char *out, size_t outlen, hsmca_error *err)
{
	return hsmca_path_join(out, outlen, err, "%s/talosconfig", root);
}

/* ---- writing */

/* Replace `path` by `data` through the one safe writer (random O_EXCL
 * temporary name, final mode at creation, symlinks refused). */
static int replace_file(const char *path, const void *data, size_t len, mode_t mode,
			hsmca_error *err)
{
	return hsmca_write_atomic(path, data, len, mode, err);
}

/* A value that may sit unquoted in our YAML: endpoints, nodes, names. */
static int check_plain(const char *s, const char *what, hsmca_error *err)
{
	const unsigned char *p;

	if (!s || !*s)
		return hsmca_error_set(err, "talosconfig: empty %s", what);
	for (p = (const unsigned char *)s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr(".-_:[]@/", *p)))
			return hsmca_error_set(err,
					       "talosconfig: %s \"%.64s\" has a character "
					       "hsmca does not write",
					       what, s);
	}
	return 0;
}

static int existing_contexts_ok(const char *path, const char *context, hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = {0};
	yaml_node_t *ctxs;
	yaml_node_pair_t *pr;
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = -1;

	if (access(path, F_OK) != 0)
		return 0;
	if (hsmca_read_file(path, TALOSCONFIG_MAX, &buf, &len, err) != 0 ||
	    hsmca_talos_yaml_load(buf, len, path, &docs, err) != 0)
		goto out;
	ctxs = hsmca_talos_yaml_get(&docs.docs[0], hsmca_talos_yaml_root(&docs, 0), "contexts",
				    NULL);
	if (ctxs && ctxs->type == YAML_MAPPING_NODE) {
		for (pr = ctxs->data.mapping.pairs.start; pr < ctxs->data.mapping.pairs.top; pr++) {
			const char *k = hsmca_talos_yaml_str(
				yaml_document_get_node(&docs.docs[0], pr->key));

			if (!k || strcmp(k, context) != 0) {
				hsmca_error_set(err,
						"%s holds another context (%s); hsmca will not "
						"drop it: write the new credentials elsewhere",
						path, k ? k : "?");
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

static void sb_addf(char **buf, size_t *len, size_t *cap, bool *failed, const char *s)
{
	size_t n = strlen(s);

	if (*failed)
		return;
	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap * 2 : 1024;
		char *nb;

		while (nc < *len + n + 1)
			nc *= 2;
		nb = malloc(nc);
		if (!nb) {
			*failed = true;
			return;
		}
		if (*buf) {
			memcpy(nb, *buf, *len);
			hsmca_wipe(*buf, *cap);
			free(*buf);
		}
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

int hsmca_talm_talosconfig_precheck(const char *path, const char *context,
				    const char *const *endpoints, const char *const *nodes,
				    hsmca_error *err)
{
	size_t i;

	if (check_plain(context, "context name", err) != 0)
		return -1;
	for (i = 0; endpoints && endpoints[i]; i++) {
		if (check_plain(endpoints[i], "endpoint", err) != 0)
			return -1;
	}
	for (i = 0; nodes && nodes[i]; i++) {
		if (check_plain(nodes[i], "node", err) != 0)
			return -1;
	}
	return existing_contexts_ok(path, context, err);
}

int hsmca_talm_write_talosconfig(const char *path, const char *context,
				 const char *const *endpoints, const char *const *nodes,
				 const char *ca_pem, const char *crt_pem, const char *key_pem,
				 hsmca_error *err)
{
	char *buf = NULL, *b_ca = NULL, *b_crt = NULL, *b_key = NULL;
	size_t len = 0, cap = 0, i;
	bool failed = false;
	int ret = -1;

	if (!ca_pem || !crt_pem || !key_pem)
		return hsmca_error_set(err, "talosconfig: ca, crt and key are required");
	if (hsmca_talm_talosconfig_precheck(path, context, endpoints, nodes, err) != 0)
		return -1;
	if (hsmca_b64_encode((const uint8_t *)ca_pem, strlen(ca_pem), &b_ca, err) != 0 ||
	    hsmca_b64_encode((const uint8_t *)crt_pem, strlen(crt_pem), &b_crt, err) != 0 ||
	    hsmca_b64_encode((const uint8_t *)key_pem, strlen(key_pem), &b_key, err) != 0)
		goto out;
#define ADD(s) sb_addf(&buf, &len, &cap, &failed, (s))
/* "[::1]:50000" would read as a flow list: quote what does not start
 * with a letter or digit (check_plain keeps quotes and backslashes out). */
#define ADD_VALUE(s)                                                                               \
	do {                                                                                       \
		bool q_ = !isalnum((unsigned char)(s)[0]);                                         \
		if (q_)                                                                            \
			ADD("\"");                                                                 \
		ADD(s);                                                                            \
		if (q_)                                                                            \
			ADD("\"");                                                                 \
	} while (0)
	ADD("context: ");
	ADD_VALUE(context);
	ADD("\ncontexts:\n    ");
	ADD_VALUE(context);
	ADD(":\n        endpoints:");
	if (!endpoints || !endpoints[0])
		ADD(" []");
	for (i = 0; endpoints && endpoints[i]; i++) {
		ADD("\n            - ");
		ADD_VALUE(endpoints[i]);
	}
	ADD("\n        nodes:");
	if (!nodes || !nodes[0])
		ADD(" []");
	for (i = 0; nodes && nodes[i]; i++) {
		ADD("\n            - ");
		ADD_VALUE(nodes[i]);
	}
	ADD("\n        ca: ");
	ADD(b_ca);
	ADD("\n        crt: ");
	ADD(b_crt);
	ADD("\n        key: ");
	ADD(b_key);
	ADD("\n");
#undef ADD_VALUE
#undef ADD
	if (failed) {
		hsmca_error_set(err, "talosconfig: out of memory");
		goto out;
	}
	ret = replace_file(path, buf, len, 0600, err);
out:
	if (buf) {
		hsmca_wipe(buf, cap);
		free(buf);
	}
	if (b_key) {
		hsmca_wipe(b_key, strlen(b_key));
		free(b_key);
	}
	free(b_ca);
	free(b_crt);
	return ret;
}

/* ---- accepted CAs in node bodies and patches */

/* Is there a block-mapping section `name` in one of the documents? Also
 * reports a null `name:` (key present, nothing under it) by its line. */
enum section { SEC_ABSENT, SEC_MAPPING, SEC_NULL, SEC_OTHER };

static enum section find_section(struct hsmca_talos_ydocs *d, enum hsmca_mconfig_target t,
				 size_t *null_line)
{
	const char *name = t == HSMCA_MCONFIG_MACHINE_ACCEPTED ? "machine" : "cluster";
	size_t i;

	for (i = 0; i < d->n; i++) {
		yaml_node_t *r = hsmca_talos_yaml_root(d, i), *k = NULL, *v;
		const char *kind =
			hsmca_talos_yaml_str(hsmca_talos_yaml_get(&d->docs[i], r, "kind", NULL));

		if (t == HSMCA_MCONFIG_CLUSTER_ACCEPTED && kind &&
		    strcmp(kind, "KubeAPIServerCAConfig") == 0)
			return SEC_MAPPING;
		v = hsmca_talos_yaml_get(&d->docs[i], r, name, &k);
		if (!v)
			continue;
		if (v->type == YAML_MAPPING_NODE &&
		    v->data.mapping.style == YAML_BLOCK_MAPPING_STYLE &&
		    v->data.mapping.pairs.top > v->data.mapping.pairs.start)
			return SEC_MAPPING;
		if (v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0 &&
		    v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && k->start_mark.column == 0) {
			*null_line = k->start_mark.line;
			return SEC_NULL;
		}
		return SEC_OTHER;
	}
	return SEC_ABSENT;
}

/* Offset just past line `line` (0-based) of text. */
static size_t after_line(const uint8_t *text, size_t len, size_t line)
{
	size_t off = 0;

	while (off < len) {
		const uint8_t *nl = memchr(text + off, '\n', len - off);

		if (!nl)
			return len;
		off = (size_t)(nl - text) + 1;
		if (line-- == 0)
			return off;
	}
	return len;
}

/* A remove that emptied the section ("cluster:" alone): drop that line too,
 * so an add followed by a remove gives back the original body. */
static int drop_emptied_section(uint8_t **text, size_t *len, enum hsmca_mconfig_target t,
				hsmca_error *err)
{
	struct hsmca_talos_ydocs docs = {0};
	size_t null_line = 0, a, z;

	if (hsmca_talos_yaml_load(*text, *len, "node file body", &docs, err) != 0) {
		hsmca_wipe(*text, *len);
		free(*text);
		*text = NULL;
		return -1;
	}
	if (find_section(&docs, t, &null_line) == SEC_NULL) {
		a = null_line == 0 ? 0 : after_line(*text, *len, null_line - 1);
		z = after_line(*text, *len, null_line);
		memmove(*text + a, *text + z, *len - z + 1);
		*len -= z - a;
	}
	hsmca_talos_yaml_free(&docs);
	return 0;
}

int hsmca_talm_body_accepted_edit(const uint8_t *text, size_t len, enum hsmca_mconfig_target t,
				  const char *ca_pem, bool add, uint8_t **out, size_t *outlen,
				  bool *changed, hsmca_error *err)
{
	const char *name = t == HSMCA_MCONFIG_MACHINE_ACCEPTED ? "machine" : "cluster";
	struct hsmca_talos_ydocs docs = {0};
	enum section sec;
	size_t null_line = 0, at = 0, i, tl;
	char skel[64];
	uint8_t *tmp = NULL;
	bool eol;
	int ret = -1;

	if (hsmca_talos_yaml_load(text, len, "node file body", &docs, err) != 0)
		return -1;
	sec = find_section(&docs, t, &null_line);
	if (sec == SEC_MAPPING || sec == SEC_OTHER) {
		ret = (add ? hsmca_mconfig_accepted_add : hsmca_mconfig_accepted_remove)(
			text, len, t, ca_pem, out, outlen, changed, err);
		if (ret == 0 && !add && *changed && sec == SEC_MAPPING)
			ret = drop_emptied_section(out, outlen, t, err);
		goto out;
	}
	if (!add) {
		/* Nothing listed anywhere: nothing to remove. */
		tmp = malloc(len + 1);
		if (!tmp) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		memcpy(tmp, text, len);
		tmp[len] = '\0';
		*out = tmp;
		*outlen = len;
		*changed = false;
		tmp = NULL;
		ret = 0;
		goto out;
	}
	/* Give the body a section holding an empty list, then add to it. */
	if (sec == SEC_NULL) {
		at = after_line(text, len, null_line);
		snprintf(skel, sizeof(skel), "    acceptedCAs: []\n");
	} else {
		for (i = 0; i < docs.n; i++) {
			yaml_node_t *r = hsmca_talos_yaml_root(&docs, i);

			if (docs.n > 1 || r->type != YAML_MAPPING_NODE ||
			    r->data.mapping.style != YAML_BLOCK_MAPPING_STYLE ||
			    r->start_mark.column != 0) {
				hsmca_error_set(err,
						"node file body: cannot add a %s section to a "
						"body that is not one block mapping",
						name);
				goto out;
			}
		}
		at = len;
		snprintf(skel, sizeof(skel), "%s:\n    acceptedCAs: []\n", name);
	}
	eol = at == 0 || text[at - 1] == '\n';
	tl = strlen(skel);
	tmp = malloc(len + tl + 2);
	if (!tmp) {
		hsmca_error_set(err, "out of memory");
		goto out;
	}
	memcpy(tmp, text, at);
	i = at;
	if (!eol)
		tmp[i++] = '\n';
	memcpy(tmp + i, skel, tl);
	i += tl;
	memcpy(tmp + i, text + at, len - at);
	i += len - at;
	tmp[i] = '\0';
	ret = hsmca_mconfig_accepted_add(tmp, i, t, ca_pem, out, outlen, changed, err);
	if (ret == 0)
		*changed = true;
out:
	free(tmp);
	hsmca_talos_yaml_free(&docs);
	return ret;
}

static int file_edit(const char *path, bool must_exist, enum hsmca_mconfig_target t,
		     const char *ca_pem, bool add, bool node_file, bool *changed, hsmca_error *err)
{
	static const char header[] =
		"# Accepted CA certificates kept by hsmca (public certificates only).\n"
		"# Use: talm apply -f nodes/<node>.yaml -f " HSMCA_TALM_PATCH_FILE "\n";
	struct hsmca_talm_node_file nf = {0};
	uint8_t *buf = NULL, *out = NULL;
	size_t len = 0, outlen = 0, n;
	struct stat st;
	mode_t mode = 0644;
	int ret = -1;

	if (stat(path, &st) == 0) {
		mode = st.st_mode & 07777;
		if (hsmca_read_file(path, NODE_FILE_MAX, &buf, &len, err) != 0)
			goto out;
	} else if (errno != ENOENT || must_exist) {
		hsmca_error_errno(err, "cannot read %s", path);
		goto out;
	} else if (!add) {
		*changed = false;
		ret = 0;
		goto out;
	} else {
		buf = (uint8_t *)strdup(header);
		if (!buf) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		len = strlen(header);
	}
	if (node_file) {
		if (hsmca_talm_node_file_parse(buf, len, path, &nf, err) != 0)
			goto out;
		for (n = 0; nf.ml.nodes[n]; n++)
			;
		if (n > 1) {
			hsmca_error_set(err,
					"%s targets %zu nodes; talm refuses a body on a "
					"multi-node file: split it per node (talm template -I)",
					path, n);
			goto out;
		}
	}
	if (hsmca_talm_body_accepted_edit(buf, len, t, ca_pem, add, &out, &outlen, changed, err) !=
	    0) {
		hsmca_error_prefix(err, "%s", path);
		goto out;
	}
	if (*changed && replace_file(path, out, outlen, mode, err) != 0)
		goto out;
	ret = 0;
out:
	hsmca_talm_node_file_free(&nf);
	free(buf);
	free(out);
	return ret;
}

int hsmca_talm_node_accepted_add(const char *path, enum hsmca_mconfig_target t, const char *ca_pem,
				 bool *changed, hsmca_error *err)
{
	return file_edit(path, true, t, ca_pem, true, true, changed, err);
}

int hsmca_talm_node_accepted_remove(const char *path, enum hsmca_mconfig_target t,
				    const char *ca_pem, bool *changed, hsmca_error *err)
{
	return file_edit(path, true, t, ca_pem, false, true, changed, err);
}

static int patch_path(const char *root, char *out, size_t outlen, hsmca_error *err)
{
	return hsmca_path_join(out, outlen, err, "%s/%s", root, HSMCA_TALM_PATCH_FILE);
}

int hsmca_talm_patch_accepted_add(const char *root, enum hsmca_mconfig_target t, const char *ca_pem,
				  bool *changed, hsmca_error *err)
{
	char path[PATH_MAX], dir[PATH_MAX];

	if (patch_path(root, path, sizeof(path), err) != 0 ||
	    hsmca_path_join(dir, sizeof(dir), err, "%s/patches", root) != 0 ||
	    hsmca_mkdir_p(dir, 0755, err) != 0)
		return -1;
	return file_edit(path, false, t, ca_pem, true, false, changed, err);
}

int hsmca_talm_patch_accepted_remove(const char *root, enum hsmca_mconfig_target t,
				     const char *ca_pem, bool *changed, hsmca_error *err)
{
	char path[PATH_MAX];

	if (patch_path(root, path, sizeof(path), err) != 0)
		return -1;
	return file_edit(path, false, t, ca_pem, false, false, changed, err);
}
