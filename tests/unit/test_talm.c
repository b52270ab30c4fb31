/* Unit tests for src/talos/talm.c: modelines, project layout, talosconfig
 * writing, accepted CAs kept in node-file bodies and the side patch. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "talos/mconfig.h"
#include "talos/talm.h"
#include "talos/talos.h"
#include "testutil.h"

static char *tmp;
static char *ca_pem, *ca_key_pem, *ca2_pem;

static char *xasprintf(const char *fmt, ...)
{
	char *out = NULL;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&out, fmt, ap) > 0);
	va_end(ap);
	return out;
}

static char *pem_key(EVP_PKEY *k)
{
	BIO *m = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *s;

	PEM_write_bio_PrivateKey(m, k, NULL, NULL, 0, NULL, NULL);
	BIO_get_mem_ptr(m, &bm);
	s = strndup(bm->data, bm->length);
	BIO_free(m);
	return s;
}

static char *self_signed(EVP_PKEY *k, const char *cn)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	BIO *m = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	const EVP_MD *md = EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
	char *s;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, md) > 0);
	PEM_write_bio_X509(m, x);
	BIO_get_mem_ptr(m, &bm);
	s = strndup(bm->data, bm->length);
	BIO_free(m);
	X509_NAME_free(n);
	X509_free(x);
	return s;
}

static int setup(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");

	(void)state;
	tmp = hsmca_test_tmpdir();
	ca_pem = self_signed(k, "talm test CA");
	ca_key_pem = pem_key(k);
	ca2_pem = self_signed(k2, "talm test CA 2");
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	return tmp ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	hsmca_test_rmtree(tmp);
	free(ca_pem);
	free(ca2_pem);
	hsmca_wipe(ca_key_pem, strlen(ca_key_pem));
	free(ca_key_pem);
	return 0;
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static char *read_text(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	hsmca_error err = {0};

	assert_int_equal(hsmca_read_file(path, 1 << 22, &buf, &len, &err), 0);
	return (char *)buf;
}

static size_t list_count(const char *text, enum hsmca_mconfig_target t)
{
	uint8_t (*fps)[32] = NULL;
	size_t n = 0;
	hsmca_error err = {0};

	if (hsmca_mconfig_accepted_list((const uint8_t *)text, strlen(text), t, &fps, &n, &err) != 0)
		fail_msg("list: %s", err.msg);
	free(fps);
	return n;
}

/* ---- modelines */

static void test_modeline(void **state)
{
	struct hsmca_talm_modeline m;
	hsmca_error err = {0};
	const char *l1 = "# talm: nodes=[\"192.0.2.4\"], endpoints=[\"192.0.2.4\"], "
			 "templates=[\"templates/controlplane.yaml\"]\n";
	const char *l2 = "  # talm: templates=[\"a.yaml\", \"b.yaml\"], future=[\"x\"], "
			 "nodes=[\"10.0.0.1\",\"10.0.0.2\"]";

	(void)state;
	assert_int_equal(hsmca_talm_parse_modeline(l1, strlen(l1), &m, &err), 0);
	assert_string_equal(m.nodes[0], "192.0.2.4");
	assert_null(m.nodes[1]);
	assert_string_equal(m.endpoints[0], "192.0.2.4");
	assert_string_equal(m.templates[0], "templates/controlplane.yaml");
	hsmca_talm_modeline_free(&m);

	/* Spaces inside arrays, unknown keys, a missing key (empty). */
	assert_int_equal(hsmca_talm_parse_modeline(l2, strlen(l2), &m, &err), 0);
	assert_string_equal(m.templates[1], "b.yaml");
	assert_string_equal(m.nodes[1], "10.0.0.2");
	assert_null(m.endpoints[0]);
	hsmca_talm_modeline_free(&m);

#define BAD(s, part)                                                                              \
	do {                                                                                      \
		assert_int_equal(hsmca_talm_parse_modeline(s, strlen(s), &m, &err), -1);          \
		if (!strstr(err.msg, part))                                                       \
			fail_msg("\"%s\": error \"%s\" lacks \"%s\"", s, err.msg, part);          \
	} while (0)
	BAD("# talk: nodes=[]", "prefix");
	BAD("# talm: nodes=\"1.2.3.4\"", "cannot unmarshal string into Go value of type []string");
	BAD("# talm: nodes=[1]", "cannot unmarshal number into Go value of type string");
	BAD("# talm: nodes=[\"a\"] endpoints=[]", "invalid character 'e' after top-level value");
	BAD("# talm: nodes=[\"a\"", "unexpected end of JSON input");
	BAD("# talm: nodes", "invalid format of modeline part");
#undef BAD
}

/* talm's own contract for its modeline parser (cozystack/talm
 * pkg/modeline/contract_test.go and modeline_test.go, at c2d0f05): each line
 * parses to the same lists, or fails, as talm's ParseModeline does; the
 * failures hsmca reports carry Go json.Unmarshal's reason.  "-" marks a
 * list that stays empty (talm: nil). */
struct ml_case {
	const char *line;
	const char *nodes, *endpoints, *templates; /* "|"-joined, NULL = must fail */
	const char *why;                           /* part of the error, for failures */
};

static const struct ml_case ml_cases[] = {
	/* RejectsWithoutPrefix */
	{ "", NULL, NULL, NULL, "prefix" },
	{ "# nothing", NULL, NULL, NULL, "prefix" },
	{ "# vim: set ft=yaml", NULL, NULL, NULL, "prefix" },
	{ "# talm noprefix", NULL, NULL, NULL, "prefix" },
	{ "#talm: nodes=[\"x\"]", NULL, NULL, NULL, "prefix" },
	{ "# talm:nodes=[\"x\"]", NULL, NULL, NULL, "prefix" },
	/* TrimsLine */
	{ "   # talm: nodes=[\"1.2.3.4\"]   ", "1.2.3.4", "-", "-", NULL },
	{ "\t# talm: nodes=[\"1.2.3.4\"]\r\n", "1.2.3.4", "-", "-", NULL },
	/* RejectsMalformedKeyValue */
	{ "# talm: nodes", NULL, NULL, NULL, "invalid format of modeline part" },
	{ "# talm: nodes=invalid", NULL, NULL, NULL,
	  "invalid character 'i' looking for beginning of value" },
	{ "# talm: nodes={\"key\":\"val\"}", NULL, NULL, NULL,
	  "cannot unmarshal object into Go value of type []string" },
	{ "# talm: nodes=", NULL, NULL, NULL, "unexpected end of JSON input" },
	/* KeyValueSeparator */
	{ "# talm: nodes=[\"a\"], endpoints=[\"b\"], templates=[\"c\"]", "a", "b", "c", NULL },
	{ "# talm: nodes=[\"a\"],endpoints=[\"b\"],templates=[\"c\"]", "a", "b", "c", NULL },
	{ "# talm: nodes=[\"a\"],   endpoints=[\"b\"],   templates=[\"c\"]", "a", "b", "c", NULL },
	{ "# talm: nodes=[\"a\"] , endpoints=[\"b\"] , templates=[\"c\"]", "a", "b", "c", NULL },
	/* CommaInsideArrayNeverSplits */
	{ "# talm: nodes=[\"1.2.3.4\", \"5.6.7.8\"]", "1.2.3.4|5.6.7.8", "-", "-", NULL },
	{ "# talm: nodes=[\"a,b\",\"c\"]", "a,b|c", "-", "-", NULL },
	{ "# talm: nodes=[\"a\\\"b\",\"c\"]", "a\"b|c", "-", "-", NULL },
	{ "# talm: nodes=[\"[,]\",\"x\"]", "[,]|x", "-", "-", NULL },
	/* TrailingCommaRejected */
	{ "# talm: nodes=[\"a\"],", NULL, NULL, NULL, "invalid format of modeline part" },
	{ "# talm: nodes=[\"a\"], ", NULL, NULL, NULL, "invalid format of modeline part" },
	{ "# talm: nodes=[\"a\"], endpoints=[\"b\"],", NULL, NULL, NULL,
	  "invalid format of modeline part" },
	/* UnbalancedClosingBracketDoesNotPanic */
	{ "# talm: nodes=\"a\"]", NULL, NULL, NULL, "invalid character ']' after top-level value" },
	{ "# talm: nodes=]", NULL, NULL, NULL, "invalid character ']' looking for beginning of value" },
	{ "# talm: nodes=[\"a\"]], endpoints=[\"b\"]", NULL, NULL, NULL,
	  "invalid character ']' after top-level value" },
	/* EmptyArrays; GenerateModeline_RoundTrip: a nil list is written null */
	{ "# talm: nodes=[], endpoints=[], templates=[]", "-", "-", "-", NULL },
	{ "# talm: nodes=[\"10.0.0.1\"], endpoints=null, templates=[\"t.yaml\"]", "10.0.0.1", "-",
	  "t.yaml", NULL },
	{ "# talm: nodes=null, endpoints=null, templates=null", "-", "-", "-", NULL },
	/* modeline_test.go: unknown keys are ignored, but their values are
	 * decoded as []string all the same */
	{ "# talm: nodes=[\"a\"], foo=[\"bar\"]", "a", "-", "-", NULL },
	{ "# talm: foo=[1,{\"x\":[2]}], nodes=[\"a\"]", NULL, NULL, NULL,
	  "cannot unmarshal number into Go value of type string" },
	{ "# talm: foo=[1,], nodes=[\"a\"]", NULL, NULL, NULL,
	  "invalid character ']' looking for beginning of value" },
	/* What json-c accepted and Go's json.Unmarshal refuses */
	{ "# talm: nodes=['a']", NULL, NULL, NULL,
	  "invalid character '\\'' looking for beginning of value" },
	{ "# talm: nodes=[\"a\",]", NULL, NULL, NULL,
	  "invalid character ']' looking for beginning of value" },
	{ "# talm: nodes=[\"a\" \"b\"]", NULL, NULL, NULL,
	  "invalid character '\"' after array element" },
	{ "# talm: nodes=[\"a\"]x", NULL, NULL, NULL, "invalid character 'x' after top-level value" },
	{ "# talm: nodes=[\"a\tb\"]", NULL, NULL, NULL, "invalid character '\\t' in string literal" },
	{ "# talm: nodes=[\"\\x\"]", NULL, NULL, NULL, "invalid character 'x' in string escape code" },
	{ "# talm: nodes=[tru]", NULL, NULL, NULL, "invalid character ']' in literal true (expecting 'e')" },
	{ "# talm: nodes=[01]", NULL, NULL, NULL, "invalid character '1' after array element" },
	{ "# talm: nodes=[[\"a\"]]", NULL, NULL, NULL,
	  "cannot unmarshal array into Go value of type string" },
	{ "# talm: nodes=true", NULL, NULL, NULL, "cannot unmarshal bool into Go value of type []string" },
	/* Go's decoding: null elements are "", escapes, a key given twice keeps the last */
	{ "# talm: nodes=[\"a\", null]", "a|", "-", "-", NULL },
	{ "# talm: nodes=[\"\\u0041\\/b\"]", "A/b", "-", "-", NULL },
	{ "# talm: nodes=[\"x\"], nodes=[\"y\"]", "y", "-", "-", NULL },
	{ "# talm: nodes =[\"x\"]", "-", "-", "-", NULL }, /* key "nodes " is not nodes */
};

static void check_list(const char *line, const char *what, char **got, const char *want)
{
	char buf[512] = "";
	size_t i;

	if (strcmp(want, "-") != 0 || got[0]) {
		for (i = 0; got[i]; i++)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "|" : "",
				 got[i]);
		if (strcmp(want, "-") == 0 ? got[0] != NULL : strcmp(buf, want) != 0)
			fail_msg("%s: %s = \"%s\", talm has \"%s\"", line, what, buf, want);
	}
}

static void test_modeline_talm_contract(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ml_cases) / sizeof(ml_cases[0]); i++) {
		const struct ml_case *c = &ml_cases[i];
		struct hsmca_talm_modeline m;
		hsmca_error err = { 0 };
		int rc = hsmca_talm_parse_modeline(c->line, strlen(c->line), &m, &err);

		if (!c->nodes) {
			if (rc != -1)
				fail_msg("%s: parsed, talm refuses it", c->line);
			if (!strstr(err.msg, c->why))
				fail_msg("%s: error \"%s\" lacks \"%s\"", c->line, err.msg, c->why);
			continue;
		}
		if (rc != 0)
			fail_msg("%s: refused (%s), talm parses it", c->line, err.msg);
		check_list(c->line, "nodes", m.nodes, c->nodes);
		check_list(c->line, "endpoints", m.endpoints, c->endpoints);
		check_list(c->line, "templates", m.templates, c->templates);
		hsmca_talm_modeline_free(&m);
	}
}

static void test_node_file_parse(void **state)
{
	struct hsmca_talm_node_file f;
	hsmca_error err = {0};
	const char *a = "# operator note\n\n# talm: nodes=[\"1.2.3.4\"], endpoints=[], "
			"templates=[\"t.yaml\"]\nmachine:\n  # talm: not a modeline\n"
			"  type: worker\n";
	const char *b = "# talm: nodes=[\"1.2.3.4\"]\n";
	const char *c = "machine:\n  type: worker\n# talm: nodes=[\"1.2.3.4\"]\n";
	const char *d = "# just a comment\nmachine:\n  type: worker\n";

	(void)state;
	assert_int_equal(hsmca_talm_node_file_parse((const uint8_t *)a, strlen(a), "a.yaml", &f,
						    &err),
			 0);
	assert_int_equal(f.modeline_line, 3);
	assert_string_equal(f.machine_type, "worker");
	assert_string_equal(f.ml.nodes[0], "1.2.3.4");
	hsmca_talm_node_file_free(&f);
	assert_int_equal(hsmca_talm_node_file_parse((const uint8_t *)b, strlen(b), "b.yaml", &f,
						    &err),
			 0);
	assert_string_equal(f.machine_type, "");
	hsmca_talm_node_file_free(&f);
	assert_int_equal(hsmca_talm_node_file_parse((const uint8_t *)c, strlen(c), "c.yaml", &f,
						    &err),
			 -1);
	assert_string_equal(err.msg, "c.yaml:3: talm modeline found below non-comment content");
	assert_int_equal(hsmca_talm_node_file_parse((const uint8_t *)d, strlen(d), "d.yaml", &f,
						    &err),
			 -1);
	assert_non_null(strstr(err.msg, "d.yaml: no talm modeline"));
}

static void test_find_root(void **state)
{
	char *proj = xasprintf("%s/proj", tmp), *nodes = xasprintf("%s/proj/nodes", tmp);
	char *chart = xasprintf("%s/proj/Chart.yaml", tmp), *nf = xasprintf("%s/n1.yaml", nodes);
	char *outside = xasprintf("%s/loose.yaml", tmp);
	char root[PATH_MAX], real[PATH_MAX], tc[PATH_MAX];
	hsmca_error err = {0};

	(void)state;
	assert_int_equal(hsmca_mkdir_p(nodes, 0755, &err), 0);
	write_file(chart, "name: demo\n");
	write_file(nf, "# talm: nodes=[\"1.2.3.4\"]\n");
	write_file(outside, "# talm: nodes=[\"1.2.3.4\"]\n");
	assert_int_equal(hsmca_talm_find_root(nf, root, sizeof(root), &err), 0);
	assert_non_null(realpath(proj, real));
	assert_string_equal(root, real);
	assert_int_equal(hsmca_talm_talosconfig_path(root, tc, sizeof(tc), &err), 0);
	assert_non_null(strstr(tc, "/proj/talosconfig"));
	assert_int_equal(hsmca_talm_find_root(outside, root, sizeof(root), &err), -1);
	assert_non_null(strstr(err.msg, "not inside a talm project"));
	free(proj);
	free(nodes);
	free(chart);
	free(nf);
	free(outside);
}

/* ---- talosconfig */

static void test_write_talosconfig(void **state)
{
	char *path = xasprintf("%s/talosconfig", tmp);
	const char *eps[] = {"192.0.2.4", "192.0.2.5:50000", "[2001:db8::1]:50000", NULL};
	const char *nds[] = {"192.0.2.4", NULL};
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *crt = self_signed(k, "admin"), *key = pem_key(k), *edkey, *p, *text;
	struct hsmca_talos_creds c = {0};
	char **ep = NULL, **nd = NULL;
	hsmca_error err = {0};
	struct stat st;
	DIR *dir;
	struct dirent *de;
	int files = 0;

	(void)state;
	/* Talos labels Ed25519 keys "ED25519 PRIVATE KEY"; hsmca reads both. */
	{
		/* The label pieces, so that no key boundary line sits in this file. */
		char *begin = xasprintf("-----BEGIN %s-----", "PRIVATE KEY");
		char *end = xasprintf("-----END %s-----", "PRIVATE KEY");

		assert_int_equal(strncmp(key, begin, strlen(begin)), 0);
		p = strstr(key, end);
		assert_non_null(p);
		edkey = xasprintf("-----BEGIN ED25519 %s-----%.*s-----END ED25519 %s-----\n",
				  "PRIVATE KEY", (int)(p - key - strlen(begin)), key + strlen(begin),
				  "PRIVATE KEY");
		assert_non_null(strstr(edkey, "-----BEGIN ED25519 PRIVATE"));
		free(begin);
		free(end);
	}
	assert_int_equal(hsmca_talm_write_talosconfig(path, "demo", eps, nds, ca_pem, crt, edkey,
						      &err),
			 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = read_text(path);
	assert_non_null(strstr(text, "context: demo\ncontexts:\n    demo:\n        endpoints:\n"
				     "            - 192.0.2.4\n            - 192.0.2.5:50000\n"
				     "            - \"[2001:db8::1]:50000\"\n"
				     "        nodes:\n            - 192.0.2.4\n        ca: "));
	free(text);
	assert_int_equal(hsmca_talos_creds_from_talosconfig(path, NULL, &c, &ep, &nd, &err), 0);
	assert_string_equal(c.crt_pem, crt);
	assert_string_equal(c.ca_pem, ca_pem);
	assert_string_equal(c.key_pem, key); /* relabelled back */
	assert_string_equal(ep[1], "192.0.2.5:50000");
	assert_string_equal(ep[2], "[2001:db8::1]:50000");
	assert_string_equal(nd[0], "192.0.2.4");
	assert_null(nd[1]);
	hsmca_talos_creds_clear(&c);
	hsmca_talos_strv_free(ep);
	hsmca_talos_strv_free(nd);

	/* Replacing the same context is fine, leaves no temporary file. */
	chmod(path, 0644);
	assert_int_equal(hsmca_talm_write_talosconfig(path, "demo", eps, nds, ca_pem, crt, key,
						      &err),
			 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	dir = opendir(tmp);
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, "talosconfig", 11) == 0)
			files++;
	}
	closedir(dir);
	assert_int_equal(files, 1);

	/* Another context would be lost: refused, file untouched. */
	text = read_text(path);
	assert_int_equal(hsmca_talm_write_talosconfig(path, "other", eps, nds, ca_pem, crt, key,
						      &err),
			 -1);
	assert_non_null(strstr(err.msg, "holds another context (demo)"));
	p = read_text(path);
	assert_string_equal(p, text);
	free(p);
	free(text);
	/* Values that would need quoting are refused. */
	{
		const char *bad[] = {"a b", NULL};

		assert_int_equal(hsmca_talm_write_talosconfig(path, "demo", bad, nds, ca_pem, crt,
							      key, &err),
				 -1);
	}
	hsmca_wipe(key, strlen(key));
	hsmca_wipe(edkey, strlen(edkey));
	free(key);
	free(edkey);
	free(crt);
	free(path);
	EVP_PKEY_free(k);
}

/* ---- accepted CAs in node files */

static void test_node_body_accepted(void **state)
{
	char *path = xasprintf("%s/node1.yaml", tmp);
	const char *orig = "# talm: nodes=[\"192.0.2.4\"], endpoints=[\"192.0.2.4\"], "
			   "templates=[\"templates/worker.yaml\"]\n"
			   "machine:\n"
			   "    # -- Discovered disks:\n"
			   "    # /dev/sda: model QEMU\n"
			   "    install:\n"
			   "        disk: /dev/sda\n"
			   "    type: worker\n";
	char *text;
	bool changed = false;
	hsmca_error err = {0};
	struct stat st;

	(void)state;
	write_file(path, orig);
	chmod(path, 0640);
	assert_int_equal(hsmca_talm_node_accepted_add(path, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem,
						      &changed, &err),
			 0);
	assert_true(changed);
	text = read_text(path);
	assert_memory_equal(text, orig, strlen(orig)); /* modeline, comments: all kept */
	assert_non_null(strstr(text + strlen(orig), "    acceptedCAs:\n        - crt: LS0tLS1CRUdJTi"));
	assert_int_equal(list_count(text, HSMCA_MCONFIG_MACHINE_ACCEPTED), 1);
	free(text);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	/* Idempotent, then cluster side, then back to the original bytes. */
	assert_int_equal(hsmca_talm_node_accepted_add(path, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem,
						      &changed, &err),
			 0);
	assert_false(changed);
	assert_int_equal(hsmca_talm_node_accepted_add(path, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca2_pem,
						      &changed, &err),
			 0);
	assert_true(changed);
	text = read_text(path);
	assert_non_null(strstr(text, "\ncluster:\n    acceptedCAs:\n        - crt: "));
	assert_int_equal(list_count(text, HSMCA_MCONFIG_CLUSTER_ACCEPTED), 1);
	free(text);
	assert_int_equal(hsmca_talm_node_accepted_remove(path, HSMCA_MCONFIG_MACHINE_ACCEPTED,
							 ca_pem, &changed, &err),
			 0);
	assert_true(changed);
	if (hsmca_talm_node_accepted_remove(path, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca2_pem,
					    &changed, &err) != 0)
		fail_msg("remove cluster CA: %s", err.msg);
	text = read_text(path);
	/* The section hsmca created is gone again: the original bytes. */
	assert_string_equal(text, orig);
	free(text);
	/* A null section ("cluster:" alone) gets its list back. */
	{
		char *with_null = xasprintf("%scluster:\n", orig);

		write_file(path, with_null);
		free(with_null);
	}
	assert_int_equal(hsmca_talm_node_accepted_add(path, HSMCA_MCONFIG_CLUSTER_ACCEPTED, ca2_pem,
						      &changed, &err),
			 0);
	text = read_text(path);
	assert_non_null(strstr(text, "\ncluster:\n    acceptedCAs:\n        - crt: "));
	free(text);
	free(path);
}

static void test_node_body_modeline_only_and_multi(void **state)
{
	char *p1 = xasprintf("%s/only.yaml", tmp), *p2 = xasprintf("%s/multi.yaml", tmp);
	const char *only = "# talm: nodes=[\"192.0.2.4\"], templates=[\"t.yaml\"]";
	const char *multi = "# talm: nodes=[\"192.0.2.4\",\"192.0.2.5\"], templates=[\"t.yaml\"]\n";
	char *text;
	bool changed = false;
	hsmca_error err = {0};

	(void)state;
	write_file(p1, only);
	assert_int_equal(hsmca_talm_node_accepted_add(p1, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem,
						      &changed, &err),
			 0);
	text = read_text(p1);
	assert_non_null(strstr(text, "# talm: nodes=[\"192.0.2.4\"], templates=[\"t.yaml\"]\n"
				     "machine:\n    acceptedCAs:\n        - crt: "));
	free(text);

	write_file(p2, multi);
	assert_int_equal(hsmca_talm_node_accepted_add(p2, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem,
						      &changed, &err),
			 -1);
	assert_non_null(strstr(err.msg, "targets 2 nodes"));
	text = read_text(p2);
	assert_string_equal(text, multi);
	free(text);
	free(p1);
	free(p2);
}

static void test_side_patch(void **state)
{
	char *root = xasprintf("%s/proj2", tmp), *path = xasprintf("%s/%s", root,
								    HSMCA_TALM_PATCH_FILE);
	char *text;
	bool changed = true;
	hsmca_error err = {0};

	(void)state;
	assert_int_equal(hsmca_mkdir_p(root, 0755, &err), 0);
	/* Nothing to remove from a missing patch. */
	assert_int_equal(hsmca_talm_patch_accepted_remove(root, HSMCA_MCONFIG_MACHINE_ACCEPTED,
							  ca_pem, &changed, &err),
			 0);
	assert_false(changed);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(hsmca_talm_patch_accepted_add(root, HSMCA_MCONFIG_MACHINE_ACCEPTED, ca_pem,
						       &changed, &err),
			 0);
	assert_true(changed);
	assert_int_equal(hsmca_talm_patch_accepted_add(root, HSMCA_MCONFIG_MACHINE_ACCEPTED,
						       ca2_pem, &changed, &err),
			 0);
	text = read_text(path);
	assert_non_null(strstr(text, "# Use: talm apply -f nodes/<node>.yaml -f "
				     "patches/hsmca-accepted-cas.yaml\nmachine:\n    acceptedCAs:\n"));
	assert_int_equal(list_count(text, HSMCA_MCONFIG_MACHINE_ACCEPTED), 2);
	assert_null(strstr(text, "PRIVATE"));
	free(text);
	assert_int_equal(hsmca_talm_patch_accepted_remove(root, HSMCA_MCONFIG_MACHINE_ACCEPTED,
							  ca_pem, &changed, &err),
			 0);
	assert_true(changed);
	text = read_text(path);
	assert_int_equal(list_count(text, HSMCA_MCONFIG_MACHINE_ACCEPTED), 1);
	free(text);
	free(root);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modeline),
		cmocka_unit_test(test_modeline_talm_contract),
		cmocka_unit_test(test_node_file_parse),
		cmocka_unit_test(test_find_root),
		cmocka_unit_test(test_write_talosconfig),
		cmocka_unit_test(test_node_body_accepted),
		cmocka_unit_test(test_node_body_modeline_only_and_multi),
		cmocka_unit_test(test_side_patch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
