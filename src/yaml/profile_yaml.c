#include "yaml/profile_yaml.h"

#include <stdio.h>
#include <string.h>

#include "yaml/ytree.h"

struct flag_name {
	const char *name;
	unsigned bit;
};

static const char *const root_keys[] = {
	"version", "name", "description", "ca", "key_usage", "extended_key_usage",
	"validity", "san", "subject", "min_rsa_bits", NULL,
};
static const char *const ca_keys[] = {"path_len", NULL};
static const char *const validity_keys[] = {"max", "default", NULL};
static const char *const san_keys[] = {"allowed", "required", NULL};
static const char *const subject_keys[] = {"cn", "o", "o_from_request", NULL};

static const struct flag_name ku_names[] = {
	{"digitalSignature", HSMCA_KU_DIGITAL_SIGNATURE},
	{"contentCommitment", HSMCA_KU_CONTENT_COMMITMENT},
	{"nonRepudiation", HSMCA_KU_CONTENT_COMMITMENT},
	{"keyEncipherment", HSMCA_KU_KEY_ENCIPHERMENT},
	{"dataEncipherment", HSMCA_KU_DATA_ENCIPHERMENT},
	{"keyAgreement", HSMCA_KU_KEY_AGREEMENT},
	{"keyCertSign", HSMCA_KU_KEY_CERT_SIGN},
	{"cRLSign", HSMCA_KU_CRL_SIGN},
	{NULL, 0},
};

static const struct flag_name eku_names[] = {
	{"serverAuth", HSMCA_EKU_SERVER_AUTH},
	{"clientAuth", HSMCA_EKU_CLIENT_AUTH},
	{"codeSigning", HSMCA_EKU_CODE_SIGNING},
	{"emailProtection", HSMCA_EKU_EMAIL_PROTECTION},
	{"OCSPSigning", HSMCA_EKU_OCSP_SIGNING},
	{"timeStamping", HSMCA_EKU_TIME_STAMPING},
	{NULL, 0},
};

static const struct flag_name san_names[] = {
	{"dns", HSMCA_SAN_DNS},
	{"ip", HSMCA_SAN_IP},
	{"uri", HSMCA_SAN_URI},
	{"email", HSMCA_SAN_EMAIL},
	{NULL, 0},
};

/* A sequence of names from `names`, OR-ed into *out.  A name given twice
 * (or two spellings of one bit) is an error: it usually hides a typo. */
static int flag_list(const struct hsmca_ynode *seq, const struct flag_name *names,
		     const char *what, unsigned *out, hsmca_error *err)
{
	char word[64], list[256], path[64];
	unsigned bits = 0;
	size_t i, j, pos;

	if (hsmca_ynode_expect_seq(seq, err) < 0)
		return -1;
	for (i = 0; i < seq->n; i++) {
		const struct hsmca_ynode *item = seq->items[i];

		hsmca_ynode_path(item, path, sizeof(path));
		if (item->kind != HSMCA_YNODE_SCALAR || hsmca_ynode_is_null(item))
			return hsmca_ynode_string(item, word, sizeof(word), err);
		hsmca_ynode_text(item, word, sizeof(word));
		for (j = 0; names[j].name; j++)
			if (strlen(names[j].name) == item->len &&
			    memcmp(names[j].name, item->value, item->len) == 0)
				break;
		if (!names[j].name) {
			list[0] = '\0';
			for (j = 0, pos = 0; names[j].name && pos < sizeof(list); j++)
				pos += (size_t)snprintf(list + pos, sizeof(list) - pos, "%s%s",
							j ? ", " : "", names[j].name);
			return hsmca_ynode_error(item, err, "%s: unknown %s '%s' (expected one of: %s)",
						 path, what, word, list);
		}
		if (bits & names[j].bit)
			return hsmca_ynode_error(item, err, "%s: '%s' repeats an earlier entry", path,
						 word);
		bits |= names[j].bit;
	}
	*out = bits;
	return 0;
}

/* The file's base name without ".yaml", which the profile is known by. */
static int file_stem(const char *path, char *out, size_t outlen, hsmca_error *err)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len <= 5 || strcmp(base + len - 5, ".yaml") != 0)
		return hsmca_error_set(err, "%s: a profile file must be named <name>.yaml", path);
	if (len - 5 >= outlen)
		return hsmca_error_set(err, "%s: profile file name is too long", path);
	memcpy(out, base, len - 5);
	out[len - 5] = '\0';
	return 0;
}

static int load_name(const struct hsmca_ynode *root, const char *stem,
		     struct hsmca_profile_def *d, hsmca_error *err)
{
	const struct hsmca_ynode *n;

	if (hsmca_ynode_require(root, "name", &n, err) < 0 ||
	    hsmca_ynode_name(n, d->name, sizeof(d->name), err) < 0)
		return -1;
	if (strcmp(d->name, stem) != 0)
		return hsmca_ynode_error(n, err,
					 "name: '%s' does not match the file name '%s.yaml'", d->name,
					 stem);
	n = hsmca_ynode_get(root, "description");
	if (n && hsmca_ynode_string(n, d->description, sizeof(d->description), err) < 0)
		return -1;
	return 0;
}

static int load_ca_usage(const struct hsmca_ynode *root, struct hsmca_profile_def *d,
			 hsmca_error *err)
{
	const struct hsmca_ynode *ca, *n;
	int64_t v;

	ca = hsmca_ynode_get(root, "ca");
	if (ca) {
		if (hsmca_ynode_is_null(ca))
			return hsmca_ynode_error(ca, err,
						 "ca: expected a mapping (write 'ca: {}' for a CA without a path length)");
		if (hsmca_ynode_check_keys(ca, ca_keys, NULL, err) < 0)
			return -1;
		d->is_ca = true;
		n = hsmca_ynode_get(ca, "path_len");
		if (n) {
			if (hsmca_ynode_int(n, 0, 32, &v, err) < 0)
				return -1;
			d->path_len = (int)v;
		}
	}
	if (hsmca_ynode_require(root, "key_usage", &n, err) < 0 ||
	    flag_list(n, ku_names, "key usage", &d->key_usage, err) < 0)
		return -1;
	if (!d->key_usage)
		return hsmca_ynode_error(n, err, "key_usage: must list at least one key usage");
	if (d->is_ca && !(d->key_usage & HSMCA_KU_KEY_CERT_SIGN))
		return hsmca_ynode_error(n, err, "key_usage: a CA profile must include keyCertSign");
	if (!d->is_ca && (d->key_usage & HSMCA_KU_KEY_CERT_SIGN))
		return hsmca_ynode_error(n, err,
					 "key_usage: keyCertSign is only for CA profiles (add a 'ca:' section)");
	n = hsmca_ynode_get(root, "extended_key_usage");
	if (n && flag_list(n, eku_names, "extended key usage", &d->ext_key_usage, err) < 0)
		return -1;
	return 0;
}

static int load_validity(const struct hsmca_ynode *root, struct hsmca_profile_def *d,
			 hsmca_error *err)
{
	const struct hsmca_ynode *v, *n;

	if (hsmca_ynode_require(root, "validity", &v, err) < 0 ||
	    hsmca_ynode_check_keys(v, validity_keys, NULL, err) < 0)
		return -1;
	if (hsmca_ynode_require(v, "max", &n, err) < 0 ||
	    hsmca_ynode_duration(n, &d->max_validity, err) < 0)
		return -1;
	d->default_validity = d->max_validity;
	n = hsmca_ynode_get(v, "default");
	if (n) {
		if (hsmca_ynode_duration(n, &d->default_validity, err) < 0)
			return -1;
		if (d->default_validity > d->max_validity)
			return hsmca_ynode_error(n, err,
						 "validity.default (%s) is longer than validity.max",
						 n->value);
	}
	return 0;
}

static int load_san(const struct hsmca_ynode *root, struct hsmca_profile_def *d,
		    hsmca_error *err)
{
	const struct hsmca_ynode *san, *n;

	san = hsmca_ynode_get(root, "san");
	if (!san)
		return 0;
	if (hsmca_ynode_check_keys(san, san_keys, NULL, err) < 0)
		return -1;
	n = hsmca_ynode_get(san, "allowed");
	if (n && flag_list(n, san_names, "SAN kind", &d->san_kinds, err) < 0)
		return -1;
	n = hsmca_ynode_get(san, "required");
	if (n) {
		if (hsmca_ynode_bool(n, &d->require_san, err) < 0)
			return -1;
		if (d->require_san && !d->san_kinds)
			return hsmca_ynode_error(n, err,
						 "san.required: true, but san.allowed lists no SAN kind");
	}
	return 0;
}

static int load_subject(const struct hsmca_ynode *root, struct hsmca_profile_def *d,
			hsmca_error *err)
{
	const struct hsmca_ynode *s, *n, *o;
	size_t i, j;

	s = hsmca_ynode_get(root, "subject");
	if (!s)
		return 0;
	if (hsmca_ynode_check_keys(s, subject_keys, NULL, err) < 0)
		return -1;
	n = hsmca_ynode_get(s, "cn");
	if (n) {
		if (hsmca_ynode_string(n, d->subject_cn, sizeof(d->subject_cn), err) < 0)
			return -1;
		if (!d->subject_cn[0])
			return hsmca_ynode_error(n, err,
						 "subject.cn: must not be empty (omit it to take the CN from the request)");
	}
	o = hsmca_ynode_get(s, "o");
	if (o) {
		if (hsmca_ynode_expect_seq(o, err) < 0)
			return -1;
		if (o->n > HSMCA_PROFILE_MAX_O)
			return hsmca_ynode_error(o->items[HSMCA_PROFILE_MAX_O], err,
						 "subject.o: at most %d values", HSMCA_PROFILE_MAX_O);
		for (i = 0; i < o->n; i++) {
			if (hsmca_ynode_string(o->items[i], d->subject_o[i], sizeof(d->subject_o[i]),
					       err) < 0)
				return -1;
			if (!d->subject_o[i][0])
				return hsmca_ynode_error(o->items[i], err,
							 "subject.o[%zu]: must not be empty", i);
			for (j = 0; j < i; j++)
				if (strcmp(d->subject_o[i], d->subject_o[j]) == 0)
					return hsmca_ynode_error(o->items[i], err,
								 "subject.o[%zu]: '%s' is listed twice", i,
								 d->subject_o[i]);
		}
		d->n_subject_o = (int)o->n;
	}
	n = hsmca_ynode_get(s, "o_from_request");
	if (n) {
		if (hsmca_ynode_bool(n, &d->o_from_csr, err) < 0)
			return -1;
		if (d->o_from_csr && d->n_subject_o)
			return hsmca_ynode_error(n, err,
						 "subject.o_from_request: cannot be true when subject.o fixes the O values");
	}
	return 0;
}

int hsmca_profile_def_load(const char *path, struct hsmca_profile_def *out, hsmca_error *err)
{
	struct hsmca_ytree *t = NULL;
	const struct hsmca_ynode *root, *n;
	struct hsmca_profile_def d;
	char stem[256];
	int64_t v;
	int ret = -1;

	memset(&d, 0, sizeof(d));
	d.path_len = -1;
	if (file_stem(path, stem, sizeof(stem), err) < 0 ||
	    hsmca_ytree_load_file(path, HSMCA_PROFILE_MAX_BYTES, 0, &t, err) < 0)
		goto out;
	root = hsmca_ytree_root(t);
	if (!root || hsmca_ynode_is_null(root)) {
		hsmca_error_set(err, "%s: the file is empty", path);
		goto out;
	}
	if (hsmca_ynode_check_keys(root, root_keys, NULL, err) < 0 ||
	    hsmca_ynode_require_version(root, 1, err) < 0 || load_name(root, stem, &d, err) < 0 ||
	    load_ca_usage(root, &d, err) < 0 || load_validity(root, &d, err) < 0 ||
	    load_san(root, &d, err) < 0 || load_subject(root, &d, err) < 0)
		goto out;
	d.min_rsa_bits = d.is_ca ? 3072 : 2048;
	n = hsmca_ynode_get(root, "min_rsa_bits");
	if (n) {
		if (hsmca_ynode_int(n, 2048, 16384, &v, err) < 0)
			goto out;
		d.min_rsa_bits = (int)v;
	}
	*out = d;
	ret = 0;
out:
	hsmca_ytree_free(t);
	return ret;
}
