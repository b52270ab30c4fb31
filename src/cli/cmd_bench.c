/* hsmca bench issue [--count N] [--jobs N] [--key-type T] [--csr-key T]
 *
 * In one run, on the same token and the same key: the token's raw C_Sign
 * rate, then full issuance (CSR verification on, profile, TBS, signature
 * in the token, verification, records, audit), their ratio, and peak RSS.
 * Machines are noisy; only the ratio measured in one run means anything,
 * and from 5000 certificates the two phases alternate in rounds so that
 * drift during the run cancels out. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "common/fsutil.h"
#include "common/util.h"
#include "issue/issue.h"
#include "issue/profile.h"

#define POOL 64
#define BENCH_ROUNDS 5 /* raw and issuance phases alternate this many times */

struct pool {
	uint8_t *der[POOL];
	size_t len[POOL];
	size_t next, count, issued, failed;
	char first_error[HSMCA_ERROR_MAX];
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int make_csr(const char *type, int i, uint8_t **der, size_t *len)
{
	EVP_PKEY *k = NULL;
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	char cn[32];
	unsigned char *out = NULL;
	int l = -1;

	if (strcmp(type, "ec-p256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "ec-p384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(type, "ed25519") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (strcmp(type, "rsa-2048") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	snprintf(cn, sizeof(cn), "bench-client-%d", i);
	if (k && r && n &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0) &&
	    X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, k) &&
	    X509_REQ_sign(r, k, strcmp(type, "ed25519") == 0 ? NULL : EVP_sha256()) > 0)
		l = i2d_X509_REQ(r, &out);
	EVP_PKEY_free(k);
	X509_REQ_free(r);
	X509_NAME_free(n);
	if (l <= 0)
		return -1;
	*der = out;
	*len = (size_t)l;
	return 0;
}

/* The test CSRs are made in a child process: they stand for requests made on
 * the nodes, and key generation and X509_REQ signing would otherwise leave
 * their OpenSSL code and heap resident in the issuer whose peak RSS is being
 * measured (about 3 MB, more than the issuance itself).  The child writes
 * each CSR as a 4-byte length and its DER to a pipe. */
static int make_pool(const char *type, struct pool *p)
{
	int fds[2], status, ret = -1;
	size_t i;
	pid_t pid;
	FILE *in = NULL;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		FILE *out = fdopen(fds[1], "w");

		close(fds[0]);
		for (i = 0; out && i < POOL; i++) {
			uint8_t *der = NULL, len4[4];
			size_t len = 0;

			if (make_csr(type, (int)i, &der, &len) != 0)
				_exit(1);
			len4[0] = (uint8_t)(len >> 24);
			len4[1] = (uint8_t)(len >> 16);
			len4[2] = (uint8_t)(len >> 8);
			len4[3] = (uint8_t)len;
			if (fwrite(len4, 1, 4, out) != 4 || fwrite(der, 1, len, out) != len)
				_exit(1);
			OPENSSL_free(der);
		}
		_exit(out && fclose(out) == 0 ? 0 : 1);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	if (!in) {
		close(fds[0]);
		goto reap;
	}
	for (i = 0; i < POOL; i++) {
		uint8_t len4[4];
		size_t len;

		if (fread(len4, 1, 4, in) != 4)
			goto reap;
		len = (size_t)len4[0] << 24 | (size_t)len4[1] << 16 | (size_t)len4[2] << 8 | len4[3];
		if (len == 0 || len > HSMCA_CSR_MAX)
			goto reap;
		p->der[i] = malloc(len);
		if (!p->der[i] || fread(p->der[i], 1, len, in) != len)
			goto reap;
		p->len[i] = len;
	}
	ret = 0;
reap:
	if (in)
		fclose(in);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		ret = -1;
	return ret;
}

static int next_csr(void *arg, size_t *item, const uint8_t **csr, size_t *len, hsmca_error *err)
{
	struct pool *p = arg;

	(void)err;
	if (p->next >= p->count)
		return 0;
	*item = p->next++;
	*csr = p->der[*item % POOL];
	*len = p->len[*item % POOL];
	return 1;
}

static void done_csr(void *arg, size_t item, const struct hsmca_issued *cert, const hsmca_error *err)
{
	struct pool *p = arg;

	(void)item;
	if (cert) {
		p->issued++;
	} else {
		if (!p->failed++ && err)
			snprintf(p->first_error, sizeof(p->first_error), "%s", err->msg);
	}
}

struct raw_arg {
	hsmca_key *key;
	enum hsmca_sigalg alg;
	size_t n;
	int rc;
	hsmca_error err;
};

static void *raw_thread(void *arg)
{
	struct raw_arg *a = arg;
	uint8_t digest[64], sig[HSMCA_SIG_MAX];
	size_t i, siglen, dlen;

	RAND_bytes(digest, sizeof(digest));
	switch (a->alg) {
	case HSMCA_SIG_ECDSA_SHA384: dlen = 48; break;
	case HSMCA_SIG_ED25519: dlen = 64; break; /* EdDSA signs the message itself */
	default: dlen = 32; break;
	}
	a->rc = 0;
	for (i = 0; i < a->n; i++) {
		if (a->alg == HSMCA_SIG_RSA_SHA256 || a->alg == HSMCA_SIG_RSA_SHA384) {
			/* Raw RSA: the DigestInfo-wrapped hash, as issuance sends. */
			if (hsmca_key_sign(a->key, a->alg, digest, dlen, sig, &siglen, &a->err) != 0) {
				a->rc = -1;
				break;
			}
		} else if (hsmca_key_sign_raw(a->key, a->alg, digest, dlen, sig, &siglen, &a->err) != 0) {
			a->rc = -1;
			break;
		}
	}
	return NULL;
}

/* n signatures over `jobs` sessions; returns signatures per second. */
static double raw_rate(struct hsmca_session *s, hsmca_key *key, enum hsmca_sigalg alg, unsigned jobs,
		       size_t n, hsmca_error *err)
{
	hsmca_token *sess[64] = { 0 };
	struct raw_arg args[64];
	pthread_t th[64];
	double t0, t1;
	unsigned i;
	double rate = -1;

	memset(args, 0, sizeof(args));
	for (i = 0; i < jobs; i++) {
		if (hsmca_token_dup(s->token, &sess[i], err) != 0 ||
		    hsmca_key_rebind(key, sess[i], &args[i].key, err) != 0)
			goto out;
		args[i].alg = alg;
		args[i].n = n / jobs;
	}
	t0 = now_s();
	for (i = 0; i < jobs; i++)
		pthread_create(&th[i], NULL, raw_thread, &args[i]);
	for (i = 0; i < jobs; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	for (i = 0; i < jobs; i++) {
		if (args[i].rc != 0) {
			*err = args[i].err;
			goto out;
		}
	}
	rate = (double)(n / jobs * jobs) / (t1 - t0);
out:
	for (i = 0; i < jobs; i++) {
		hsmca_key_free(args[i].key);
		hsmca_token_close(sess[i]);
	}
	return rate;
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int bench_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },   { "jobs", required_argument, NULL, 'j' },
		{ "key-type", required_argument, NULL, 't' }, { "csr-key", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
	};
	const char *key_type = "ec-p256", *csr_key = "ec-p256";
	enum hsmca_key_type kt;
	unsigned jobs = 1;
	size_t count = 10000, raw_n, i, rounds, r;
	struct hsmca_session *s = NULL;
	struct hsmca_ca *ca = NULL;
	hsmca_key *key = NULL;
	hsmca_error err = { "", 0 };
	struct hsmca_issuer iss;
	struct hsmca_batch_opts bo;
	struct hsmca_batch_ops ops;
	struct hsmca_batch_stats st;
	struct pool pool;
	char label[64], scratch[PATH_MAX] = "", audit_path[PATH_MAX], uri[1024];
	double raw1 = 0, rawj = 0, rate, raw1_t = 0, rawj_t = 0, iss_t = 0, rmin = 1e9, rmax = 0;
	size_t raw1_n = 0, rawj_n = 0;
	long rss_before;
	int c, ret = CLI_FAIL;
	uint8_t rnd[4];

	memset(&pool, 0, sizeof(pool));
	memset(&iss, 0, sizeof(iss));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': {
			char *end;
			long long v = strtoll(optarg, &end, 10);

			if (*end || v < 100 || v > 10000000)
				return cli_usage("bench", "bench issue: --count must be 100..10000000");
			count = (size_t)v;
			break;
		}
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 64)
				return cli_usage("bench", "bench issue: --jobs must be 1..64");
			jobs = (unsigned)v;
			break;
		}
		case 't': key_type = optarg; break;
		case 'c': csr_key = optarg; break;
		case 'h':
			cli_print_synopsis(stdout, "bench");
			puts("\nCreates a throwaway CA key in the token, measures its raw C_Sign rate, then\n"
			     "issues --count certificates from CSRs (--csr-key: ec-p256, ec-p384, ed25519,\n"
			     "rsa-2048) with every check on, and prints the ratio and peak RSS. From 5000\n"
			     "certificates the two phases alternate in 5 rounds and the ratio is taken over\n"
			     "the sums (the per-round range is printed too). Records and per-certificate\n"
			     "audit events go to a scratch directory; the key's creation and destruction\n"
			     "are audit-logged in the state directory.");
			return CLI_OK;
		default: return cli_usage("bench", "bench issue: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("bench", "bench issue: unexpected argument '%s'", argv[optind]);
	if (hsmca_key_type_parse(key_type, &kt, &err) != 0)
		return cli_usage("bench", "bench issue: %s", err.msg);
	if (strcmp(csr_key, "ec-p256") && strcmp(csr_key, "ec-p384") && strcmp(csr_key, "ed25519") &&
	    strcmp(csr_key, "rsa-2048"))
		return cli_usage("bench", "bench issue: --csr-key must be ec-p256, ec-p384, ed25519 or rsa-2048");
	if (make_pool(csr_key, &pool) != 0) {
		cli_failf("bench: cannot make test CSRs");
		goto out;
	}
	pool.count = count;
	if (cli_open(&s, true) != 0)
		goto out;
	RAND_bytes(rnd, sizeof(rnd));
	snprintf(label, sizeof(label), "hsmca-bench-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	cli_info("hsmca: bench: generating throwaway %s CA key '%s' in token '%s'\n", key_type, label,
		 hsmca_token_get_info(s->token)->label);
	if (hsmca_ca_ephemeral(s, kt, label, &ca, &key, &err) != 0)
		goto fail;
	if (hsmca_key_uri(key, uri, sizeof(uri), &err) != 0)
		goto fail;
	{
		const char *d[] = { "type", key_type, "purpose", "benchmark", NULL };

		if (hsmca_session_audit(s, "generate", uri, "ok", d, &err) != 0)
			goto fail;
	}
	snprintf(scratch, sizeof(scratch), "%s/hsmca-bench.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(scratch)) {
		scratch[0] = '\0';
		hsmca_error_errno(&err, "cannot create a scratch directory");
		goto fail;
	}
	iss.session = s;
	iss.ca = ca;
	iss.key = key;
	snprintf(iss.key_uri, sizeof(iss.key_uri), "%s", uri);
	if (hsmca_profile_get(s->home, "client", &iss.profile, &err) != 0 ||
	    hsmca_records_open(scratch, &iss.records, &err) != 0 ||
	    hsmca_path_join(audit_path, sizeof(audit_path), &err, "%s/audit.log", scratch) != 0 ||
	    hsmca_audit_open(audit_path, &iss.audit, &err) != 0)
		goto fail;

	/* Raw signing and issuance alternate in rounds and the ratio is taken
	 * over the sums: this machine's speed drifts, and a raw phase measured
	 * only before issuance would carry that drift into the ratio. */
	raw_n = count < 30000 ? count : 30000;
	rounds = count >= 5000 ? BENCH_ROUNDS : 1;
	memset(&bo, 0, sizeof(bo));
	bo.ca = ca->name;
	bo.profile = "client";
	bo.jobs = jobs;
	ops.next = next_csr;
	ops.done = done_csr;
	ops.arg = &pool;
	memset(&st, 0, sizeof(st));
	rss_before = 0;
	for (r = 0; r < rounds; r++) {
		struct hsmca_batch_stats rs;
		size_t rn = raw_n / rounds, first = pool.next;
		char round[32] = "";
		double rr;

		if (rounds > 1)
			snprintf(round, sizeof(round), " (round %zu of %zu)", r + 1, rounds);
		cli_info("hsmca: bench: raw C_Sign, %zu signatures, 1 session%s%s\n", rn,
			 jobs > 1 ? ", then the same over the sessions" : "", round);
		if ((rr = raw_rate(s, key, ca->sigalg, 1, rn, &err)) < 0)
			goto fail;
		raw1_n += rn;
		raw1_t += (double)rn / rr;
		if (jobs > 1) {
			double rj = raw_rate(s, key, ca->sigalg, jobs, rn, &err);

			if (rj < 0)
				goto fail;
			rawj_n += rn / jobs * jobs;
			rawj_t += (double)(rn / jobs * jobs) / rj;
		}
		if (r == 0)
			rss_before = peak_rss_kb();
		pool.count = r + 1 == rounds ? count : count / rounds * (r + 1);
		cli_info("hsmca: bench: issuing %zu certificates from %s CSRs, %u session%s%s\n",
			 pool.count - first, csr_key, jobs, jobs == 1 ? "" : "s", round);
		if (hsmca_issue_run(&iss, &bo, &ops, &rs, &err) != 0)
			goto fail;
		st.issued += rs.issued;
		st.failed += rs.failed;
		st.seconds += rs.seconds;
		st.commit_seconds += rs.commit_seconds;
		for (i = 0; i < 3; i++)
			st.cpu[i] += rs.cpu[i];
		rr = ((double)rs.issued / rs.seconds) / rr;
		rmin = rr < rmin ? rr : rmin;
		rmax = rr > rmax ? rr : rmax;
	}
	if (pool.failed) {
		hsmca_error_set(&err, "%zu certificates failed: %s", pool.failed, pool.first_error);
		goto fail;
	}
	raw1 = (double)raw1_n / raw1_t;
	rawj = jobs > 1 ? (double)rawj_n / rawj_t : 0;
	iss_t = st.seconds;
	rate = (double)st.issued / iss_t;
	if (cli.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "token", json_object_new_string(hsmca_token_get_info(s->token)->label));
		json_object_object_add(o, "key_type", json_object_new_string(key_type));
		json_object_object_add(o, "csr_key", json_object_new_string(csr_key));
		json_object_object_add(o, "count", json_object_new_int64((int64_t)st.issued));
		json_object_object_add(o, "jobs", json_object_new_int((int)jobs));
		json_object_object_add(o, "raw_sign_per_s_1_session", json_object_new_double(raw1));
		if (jobs > 1)
			json_object_object_add(o, "raw_sign_per_s_jobs_sessions", json_object_new_double(rawj));
		json_object_object_add(o, "issue_per_s", json_object_new_double(rate));
		json_object_object_add(o, "ratio_vs_raw_1_session", json_object_new_double(rate / raw1));
		json_object_object_add(o, "rounds", json_object_new_int64((int64_t)rounds));
		json_object_object_add(o, "round_ratio_min", json_object_new_double(rmin));
		json_object_object_add(o, "round_ratio_max", json_object_new_double(rmax));
		if (jobs > 1)
			json_object_object_add(o, "ratio_vs_raw_jobs_sessions", json_object_new_double(rate / rawj));
		json_object_object_add(o, "peak_rss_kb", json_object_new_int64(peak_rss_kb()));
		json_object_object_add(o, "peak_rss_kb_before_issuance", json_object_new_int64(rss_before));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		printf("token:                  %s (%s)\n", hsmca_token_get_info(s->token)->label,
		       hsmca_module_description(s->module));
		printf("CA key:                 %s, signature %s\n", key_type, hsmca_sigalg_name(ca->sigalg));
		printf("raw C_Sign, 1 session:  %10.0f /s\n", raw1);
		if (jobs > 1)
			printf("raw C_Sign, %2u sessions:%10.0f /s\n", jobs, rawj);
		printf("issuance, %2u session%s: %10.0f certs/s  (%zu certificates from %s CSRs in %.2fs)\n",
		       jobs, jobs == 1 ? " " : "s", rate, st.issued, csr_key, st.seconds);
		printf("ratio issuance / raw C_Sign (1 session): %.2f", rate / raw1);
		if (rounds > 1)
			printf("  (%zu alternating rounds; per round %.2f to %.2f)", rounds, rmin,
			       rmax);
		printf("\n");
		if (jobs > 1)
			printf("ratio issuance / raw C_Sign (%u sessions): %.2f\n", jobs, rate / rawj);
		printf("peak RSS:               %.1f MB\n", (double)peak_rss_kb() / 1024.0);
		printf("thread CPU per certificate: prepare %.0f us, sign %.0f us (token), finish %.0f us\n",
		       st.cpu[0] * 1e6 / (double)st.issued, st.cpu[1] * 1e6 / (double)st.issued,
		       st.cpu[2] * 1e6 / (double)st.issued);
		printf("group commits (fsync of records + audit every 96): %.2fs of %.2fs\n",
		       st.commit_seconds, st.seconds);
	}
	ret = CLI_OK;
	goto out;
fail:
	cli_fail(&err);
out:
	hsmca_records_close(iss.records);
	hsmca_audit_close(iss.audit);
	if (key) {
		hsmca_error derr = { "", 0 };

		if (hsmca_key_destroy(key, &derr) == 0) {
			const char *d[] = { "purpose", "benchmark", NULL };

			hsmca_session_audit(s, "destroy", uri, "ok", d, NULL);
		} else {
			cli_failf("bench: could not destroy the throwaway key '%s': %s", label, derr.msg);
			ret = CLI_FAIL;
		}
	}
	hsmca_key_free(key);
	hsmca_ca_free(ca);
	if (scratch[0]) {
		hsmca_error rerr = { "", 0 };

		if (hsmca_rmtree(scratch, &rerr) != 0) {
			cli_fail(&rerr);
			ret = CLI_FAIL;
		}
	}
	for (i = 0; i < POOL; i++)
		free(pool.der[i]);
	cli_close(s);
	return ret;
}

int cmd_bench(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "bench");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "issue") == 0)
		return bench_issue(argc - 1, argv + 1);
	return cli_usage("bench", "bench: unknown benchmark '%s' (there is: issue)", argv[1]);
}
