/* hsmca check [--warn 90d] [--grace 30d] [--all] [--json] [--metrics FILE]
 *
 * Reports every live CA certificate, and every recorded certificate that
 * still matters, whose notAfter falls within the warning window (or has
 * passed).  Exit 0 when nothing does, 1 when something does, 3 when the
 * check could not run (2 is usage).  Public data only: the token is not
 * opened.  A retired CA (src/ca/retired.h: a rotation replaced it) is
 * reported as retired, never as an alarm, and its certificates are history.
 * A recorded certificate no longer matters when
 *   - its CA is retired,
 *   - it is a rotation's revocation probe (CN=hsmca-revocation-probe, one
 *     hour; it exists to be refused),
 *   - it is revoked,
 *   - it expired more than --grace ago (default 30d), or
 *   - it was renewed: a later certificate of the same CA with the same
 *     subject and profile, not revoked, runs longer (--all reports these
 *     too).
 * --metrics writes a Prometheus textfile (for node_exporter's textfile
 * collector) atomically, with one sample per certificate that matters. */
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "ca/ca.h"
#include "hier/hier.h"
#include "ca/retired.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "store/records.h"

#define DEFAULT_WARN ((int64_t)90 * 86400)
#define DEFAULT_GRACE ((int64_t)30 * 86400)

/* Exit statuses beyond cli.h's: 1 means "something expires", so a check
 * that could not run needs its own (documented in hsmca(1)). */
enum { CHECK_EXPIRING = 1, CHECK_ERROR = 3 };

/* A growable text buffer; allocation failures are sticky. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool failed;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->failed || b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void __attribute__((format(printf, 2, 3))) sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	sb_reserve(b, (size_t)n);
	if (b->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_append(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	if (b->failed)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* A label value in the Prometheus text format: \ " and newline escaped. */
static void sb_label(struct sbuf *b, const char *name, const char *value, bool first)
{
	const char *s = value;

	sb_printf(b, "%s%s=\"", first ? "" : ",", name);
	while (*s) {
		size_t run = strcspn(s, "\\\"\n");

		sb_append(b, s, run);
		s += run;
		if (!*s)
			break;
		sb_append(b, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		s++;
	}
	sb_append(b, "\"", 1);
}

/* The latest notAfter per (subject, profile) of one CA, sorted by key. */
struct latest {
	uint64_t key;
	time_t not_after;
};

struct check {
	time_t now;
	int64_t warn, grace;
	bool all;
	json_object *found;   /* JSON mode: the findings */
	json_object *retired; /* JSON mode: the retired CAs */
	struct sbuf ca_metrics, cert_metrics;
	size_t cas, certs, findings, nretired, probes;
	/* the CA being walked */
	const char *ca;
	struct hsmca_revocation *rv;
	size_t nrv;
	struct latest *lt;
	size_t nlt, cap_lt;
	bool failed;
};

static uint64_t subject_key(const struct hsmca_record *rec)
{
	uint8_t buf[sizeof(rec->subject) + sizeof(rec->profile)];
	uint8_t md[SHA256_DIGEST_LENGTH];
	size_t sl = strnlen(rec->subject, sizeof(rec->subject) - 1);
	size_t pl = strnlen(rec->profile, sizeof(rec->profile) - 1);
	uint64_t k = 0;
	int i;

	/* subject NUL profile: no two pairs give the same bytes. */
	memcpy(buf, rec->subject, sl);
	buf[sl] = '\0';
	memcpy(buf + sl + 1, rec->profile, pl);
	SHA256(buf, sl + 1 + pl, md);
	for (i = 0; i < 8; i++)
		k = k << 8 | md[i];
	return k;
}

static int latest_cmp(const void *pa, const void *pb)
{
	const struct latest *a = pa, *b = pb;

	return a->key < b->key ? -1 : a->key > b->key;
}

static const struct latest *latest_find(const struct check *c, uint64_t key)
{
	struct latest want = { key, 0 };

	return c->nlt ? bsearch(&want, c->lt, c->nlt, sizeof(want), latest_cmp) : NULL;
}

static bool revoked(const struct check *c, const struct hsmca_record *rec)
{
	return hsmca_revocations_find(c->rv, c->nrv, rec->serial, rec->serial_len) != NULL;
}

static int collect_latest_cb(const struct hsmca_record *rec, void *arg)
{
	struct check *c = arg;

	if (revoked(c, rec))
		return 0;
	if (c->nlt == c->cap_lt) {
		size_t cap = c->cap_lt ? c->cap_lt * 2 : 256;
		struct latest *lt = realloc(c->lt, cap * sizeof(*lt));

		if (!lt) {
			c->failed = true;
			return 1;
		}
		c->lt = lt;
		c->cap_lt = cap;
	}
	c->lt[c->nlt].key = subject_key(rec);
	c->lt[c->nlt].not_after = rec->not_after;
	c->nlt++;
	return 0;
}

/* Sort, then keep one entry per key holding the latest notAfter. */
static void latest_collapse(struct check *c)
{
	size_t i, out = 0;

	if (c->nlt < 2)
		return;
	qsort(c->lt, c->nlt, sizeof(*c->lt), latest_cmp);
	for (i = 1; i < c->nlt; i++) {
		if (c->lt[i].key == c->lt[out].key) {
			if (c->lt[i].not_after > c->lt[out].not_after)
				c->lt[out].not_after = c->lt[i].not_after;
		} else {
			c->lt[++out] = c->lt[i];
		}
	}
	c->nlt = out + 1;
}

static void span(int64_t secs, char *out, size_t outlen)
{
	int64_t a = secs < 0 ? -secs : secs;

	if (a >= 86400 && a % 86400 / 3600)
		snprintf(out, outlen, "%" PRId64 "d %" PRId64 "h", a / 86400, a % 86400 / 3600);
	else if (a >= 86400)
		snprintf(out, outlen, "%" PRId64 "d", a / 86400);
	else if (a >= 3600)
		snprintf(out, outlen, "%" PRId64 "h %" PRId64 "m", a / 3600, a % 3600 / 60);
	else
		snprintf(out, outlen, "%" PRId64 "m %" PRId64 "s", a / 60, a % 60);
}

/* One certificate or CA inside the window. */
static void report(struct check *c, const char *kind, const char *serial, const char *subject,
		   const char *profile, time_t not_after)
{
	int64_t left = (int64_t)not_after - (int64_t)c->now;
	char na[21], sp[48];

	c->findings++;
	hsmca_format_time(not_after, na);
	if (c->found) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(kind));
		json_object_object_add(o, "ca", json_object_new_string(c->ca));
		if (serial)
			json_object_object_add(o, "serial", json_object_new_string(serial));
		json_object_object_add(o, "subject", json_object_new_string(subject));
		if (profile)
			json_object_object_add(o, "profile", json_object_new_string(profile));
		json_object_object_add(o, "not_after", json_object_new_string(na));
		json_object_object_add(o, "seconds_left", json_object_new_int64(left));
		json_object_object_add(o, "expired", json_object_new_boolean(left <= 0));
		json_object_array_add(c->found, o);
		return;
	}
	span(left, sp, sizeof(sp));
	if (left <= 0)
		printf("EXPIRED %s ago: ", sp);
	else
		printf("EXPIRES in %s: ", sp);
	if (serial)
		printf("certificate %s of CA %s (profile %s, %s), notAfter %s\n", serial, c->ca,
		       profile, subject, na);
	else
		printf("CA %s (%s), notAfter %s\n", c->ca, subject, na);
}

/* A rotation's revocation probe: issued from the CA being replaced, valid
 * one hour, used once to see every node refuse it.  Its expiry is by design.
 * The lifetime bound keeps a certificate someone issued by hand under that
 * name (with a normal lifetime) in the check. */
static bool is_probe(const struct hsmca_record *rec)
{
	static const char cn[] = "CN=" HSMCA_REVOCATION_PROBE_CN;
	char next = rec->subject[sizeof(cn) - 1];

	/* The profile may add more RDNs after the CN (O=os:reader for Talos). */
	return strncmp(rec->subject, cn, sizeof(cn) - 1) == 0 && (next == '\0' || next == ',') &&
	       rec->not_after - rec->not_before <= 2 * 3600;
}

static int check_cert_cb(const struct hsmca_record *rec, void *arg)
{
	struct check *c = arg;
	const struct latest *lt;
	char serial[41];
	struct sbuf *m = &c->cert_metrics;

	if (is_probe(rec)) {
		c->probes++;
		return 0;
	}
	if (revoked(c, rec) || rec->not_after < c->now - c->grace)
		return 0;
	lt = c->all ? NULL : latest_find(c, subject_key(rec));
	if (lt && lt->not_after > rec->not_after)
		return 0; /* renewed */
	c->certs++;
	hsmca_hex(rec->serial, rec->serial_len, serial);
	sb_printf(m, "hsmca_certificate_expiry_seconds{");
	sb_label(m, "ca", c->ca, true);
	sb_label(m, "serial", serial, false);
	sb_label(m, "subject", rec->subject, false);
	sb_label(m, "profile", rec->profile, false);
	sb_printf(m, "} %" PRId64 "\n", (int64_t)rec->not_after - (int64_t)c->now);
	if ((int64_t)rec->not_after - (int64_t)c->now <= c->warn)
		report(c, "certificate", serial, rec->subject, rec->profile, rec->not_after);
	return 0;
}

/* An intermediate that outlives its issuer: what it issues after the issuer's
 * notAfter will not verify, whatever its own certificate says. */
static int check_parent(const char *home, const struct hsmca_ca *ca, struct check *c,
			hsmca_error *err)
{
	char subject[512], na[21], pna[21];
	time_t pnot_after = 0;
	int rc = hsmca_hier_parent_expiry(home, ca, &pnot_after, subject, sizeof(subject), err);

	if (rc <= 0 || ca->not_after <= pnot_after)
		return rc < 0 ? -1 : 0;
	c->findings++;
	hsmca_format_time(ca->not_after, na);
	hsmca_format_time(pnot_after, pna);
	if (c->found) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string("ca-outlives-issuer"));
		json_object_object_add(o, "ca", json_object_new_string(ca->name));
		json_object_object_add(o, "subject", json_object_new_string(ca->subject));
		json_object_object_add(o, "not_after", json_object_new_string(na));
		json_object_object_add(o, "issuer", json_object_new_string(subject));
		json_object_object_add(o, "issuer_not_after", json_object_new_string(pna));
		json_object_array_add(c->found, o);
	} else {
		printf("WARNING: CA %s (%s) outlives its issuer %s: notAfter %s, the issuer's %s; what "
		       "it issues past %s will not verify (renew the issuer or re-issue the CA)\n",
		       ca->name, ca->subject, subject, na, pna, pna);
	}
	return 0;
}

/* A retired CA: listed (JSON; text with -v), counted, never an alarm. */
static void report_retired(struct check *c, const struct hsmca_ca *ca,
			   const struct hsmca_ca_retirement *rt)
{
	char na[21];

	c->nretired++;
	hsmca_format_time(ca->not_after, na);
	if (c->retired) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ca", json_object_new_string(ca->name));
		json_object_object_add(o, "subject", json_object_new_string(ca->subject));
		json_object_object_add(o, "not_after", json_object_new_string(na));
		json_object_object_add(o, "retired", json_object_new_string(rt->when));
		json_object_object_add(o, "rotation", json_object_new_string(rt->rotation));
		json_object_object_add(o, "reason", json_object_new_string(rt->reason));
		json_object_array_add(c->retired, o);
	} else if (cli.verbosity > 0) {
		printf("retired: CA %s (%s), notAfter %s, retired %s (%s, rotation %s): not checked\n",
		       ca->name, ca->subject, na, rt->when, rt->reason[0] ? rt->reason : "?",
		       rt->rotation[0] ? rt->rotation : "?");
	}
}

static int check_ca(const char *home, const char *name, struct check *c, hsmca_error *err)
{
	struct hsmca_ca *ca = NULL;
	struct hsmca_ca_retirement rt;
	struct sbuf *m = &c->ca_metrics;
	int rc, ret = -1;

	c->ca = name;
	c->rv = NULL;
	c->nrv = 0;
	c->nlt = 0;
	if (hsmca_ca_load(home, name, &ca, err) != 0 ||
	    (rc = hsmca_ca_retirement(ca, &rt, err)) < 0)
		goto out;
	sb_printf(m, "hsmca_ca_expiry_seconds{");
	sb_label(m, "ca", name, true);
	sb_label(m, "retired", rc ? "true" : "false", false);
	sb_printf(m, "} %" PRId64 "\n", (int64_t)ca->not_after - (int64_t)c->now);
	if (rc) {
		report_retired(c, ca, &rt);
		ret = 0;
		goto out;
	}
	c->cas++;
	if ((int64_t)ca->not_after - (int64_t)c->now <= c->warn)
		report(c, "ca", NULL, ca->subject, NULL, ca->not_after);
	if (check_parent(home, ca, c, err) != 0)
		goto out;
	if (hsmca_revocations(ca->dir, &c->rv, &c->nrv, err) != 0)
		goto out;
	hsmca_revocations_sort(c->rv, c->nrv);
	if (!c->all) {
		if (hsmca_records_foreach(ca->dir, collect_latest_cb, c, err) != 0)
			goto out;
		if (c->failed) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		latest_collapse(c);
	}
	if (hsmca_records_foreach(ca->dir, check_cert_cb, c, err) != 0)
		goto out;
	ret = 0;
out:
	if (ret != 0)
		hsmca_error_prefix(err, "CA %s", name);
	free(c->rv);
	c->rv = NULL;
	hsmca_ca_free(ca);
	return ret;
}

static int write_metrics(const char *path, struct check *c, hsmca_error *err)
{
	struct sbuf out = { 0 };
	int ret;

	sb_printf(&out, "# HELP hsmca_certificate_expiry_seconds Seconds until the notAfter of a "
			"certificate issued by hsmca (negative once expired).\n"
			"# TYPE hsmca_certificate_expiry_seconds gauge\n");
	if (c->cert_metrics.len)
		sb_printf(&out, "%s", c->cert_metrics.p);
	sb_printf(&out, "# HELP hsmca_ca_expiry_seconds Seconds until the notAfter of a CA "
			"certificate (negative once expired); retired=\"true\" for a CA a "
			"rotation replaced.\n"
			"# TYPE hsmca_ca_expiry_seconds gauge\n");
	if (c->ca_metrics.len)
		sb_printf(&out, "%s", c->ca_metrics.p);
	sb_printf(&out, "# HELP hsmca_check_expiring Certificates and CAs inside the warning window "
			"(or expired) at the last check.\n"
			"# TYPE hsmca_check_expiring gauge\n"
			"hsmca_check_expiring %zu\n"
			"# HELP hsmca_check_warn_seconds The warning window of the last check.\n"
			"# TYPE hsmca_check_warn_seconds gauge\n"
			"hsmca_check_warn_seconds %" PRId64 "\n"
			"# HELP hsmca_check_timestamp_seconds Unix time of the last completed check.\n"
			"# TYPE hsmca_check_timestamp_seconds gauge\n"
			"hsmca_check_timestamp_seconds %" PRId64 "\n",
		  c->findings, c->warn, (int64_t)c->now);
	if (out.failed || c->cert_metrics.failed || c->ca_metrics.failed) {
		free(out.p);
		return hsmca_error_set(err, "metrics: out of memory");
	}
	ret = hsmca_write_atomic(path, out.p, out.len, 0644, err);
	free(out.p);
	return ret;
}

static void usage_check(void)
{
	cli_print_synopsis(stdout, "check");
	puts("\nReports CA certificates and issued certificates whose notAfter is within the\n"
	     "window or already past. Exit 0 when there are none, 1 when there are, 3 when\n"
	     "the check could not run. Retired CAs (replaced by a rotation), what they\n"
	     "issued, and rotations' revocation probes are not alarms. Reads the state\n"
	     "directory only; no PIN, no token.\n"
	     "  --warn D       the window (default 90d)\n"
	     "  --grace D      keep reporting certificates this long after they expired\n"
	     "                 (default 30d); older ones are history\n"
	     "  --all          also report certificates already renewed (a later one with\n"
	     "                 the same subject and profile from the same CA runs longer)\n"
	     "  --json         findings as JSON\n"
	     "  --metrics FILE write a Prometheus textfile atomically (node_exporter's\n"
	     "                 textfile collector): hsmca_certificate_expiry_seconds,\n"
	     "                 hsmca_ca_expiry_seconds{retired=...},\n"
	     "                 hsmca_check_timestamp_seconds\n"
	     "See docs/operations.md for the systemd timer.");
}

int cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "warn", required_argument, NULL, 'w' },    { "grace", required_argument, NULL, 'g' },
		{ "all", no_argument, NULL, 'a' },	     { "json", no_argument, NULL, 'j' },
		{ "metrics", required_argument, NULL, 'm' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	hsmca_error err = { "", 0 };
	struct check c;
	char home[PATH_MAX], warn_text[48];
	char (*names)[64] = NULL;
	const char *metrics = NULL;
	size_t n = 0, i;
	int opt, ret = CHECK_ERROR;

	memset(&c, 0, sizeof(c));
	c.warn = DEFAULT_WARN;
	c.grace = DEFAULT_GRACE;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (hsmca_parse_duration(optarg, "--warn", &c.warn, &err) != 0)
				return cli_usage("check", "check: %s", err.msg);
			break;
		case 'g':
			if (hsmca_parse_duration(optarg, "--grace", &c.grace, &err) != 0)
				return cli_usage("check", "check: %s", err.msg);
			break;
		case 'a': c.all = true; break;
		case 'j': cli.json = true; break;
		case 'm': metrics = optarg; break;
		case 'h': usage_check(); return CLI_OK;
		default:
			return cli_usage("check", "check: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("check", "check: unexpected argument '%s'", argv[optind]);
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0) {
		cli_fail(&err);
		return CHECK_ERROR;
	}
	if (!hsmca_config_exists(home)) {
		cli_failf("check: %s is not an hsmca state directory (see 'hsmca init')", home);
		return CHECK_ERROR;
	}
	if (hsmca_ca_names(home, &names, &n, &err) != 0) {
		cli_failf("check: %s", err.msg);
		return CHECK_ERROR;
	}
	c.now = hsmca_now();
	if (cli.json) {
		c.found = json_object_new_array();
		c.retired = json_object_new_array();
	}
	for (i = 0; i < n; i++) {
		if (check_ca(home, names[i], &c, &err) != 0) {
			/* No metrics from a partial run: a stale textfile shows as a stale
			 * hsmca_check_timestamp_seconds, a wrong one would not show. */
			cli_failf("check: %s", err.msg);
			goto out;
		}
	}
	if (metrics && write_metrics(metrics, &c, &err) != 0) {
		cli_failf("check: %s", err.msg);
		goto out;
	}
	span(c.warn, warn_text, sizeof(warn_text));
	if (c.found) {
		json_object *o = json_object_new_object();
		char now[21];

		hsmca_format_time(c.now, now);
		json_object_object_add(o, "time", json_object_new_string(now));
		json_object_object_add(o, "warn_seconds", json_object_new_int64(c.warn));
		json_object_object_add(o, "cas_checked", json_object_new_uint64(c.cas));
		json_object_object_add(o, "certificates_checked", json_object_new_uint64(c.certs));
		json_object_object_add(o, "revocation_probes_ignored",
				       json_object_new_uint64(c.probes));
		json_object_object_add(o, "expiring", json_object_get(c.found));
		json_object_object_add(o, "retired", json_object_get(c.retired));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else if (cli.verbosity >= 0) {
		char retired[64] = "";

		if (c.nretired)
			snprintf(retired, sizeof(retired), "; %zu retired CA%s not checked", c.nretired,
				 c.nretired == 1 ? "" : "s");
		if (c.findings)
			printf("%zu expire within %s or have expired (%zu CA%s, %zu certificate%s "
			       "checked%s)\n", c.findings, warn_text, c.cas, c.cas == 1 ? "" : "s",
			       c.certs, c.certs == 1 ? "" : "s", retired);
		else
			printf("nothing expires within %s (%zu CA%s, %zu certificate%s checked%s)\n",
			       warn_text, c.cas, c.cas == 1 ? "" : "s", c.certs, c.certs == 1 ? "" : "s",
			       retired);
	}
	ret = c.findings ? CHECK_EXPIRING : CLI_OK;
out:
	json_object_put(c.found);
	json_object_put(c.retired);
	free(c.lt);
	free(c.ca_metrics.p);
	free(c.cert_metrics.p);
	free(names);
	return ret;
}
