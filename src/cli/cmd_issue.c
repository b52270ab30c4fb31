/* hsmca issue CA --profile P --csr-dir DIR --out-dir DIR [--jobs N] [--validity D] */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/outcheck.h"
#include "common/util.h"
#include "issue/issue.h"

struct batch {
	const char *csr_dir, *out_dir;
	char (*names)[256];
	size_t n, next;
	uint8_t **bufs;
	size_t done, failed;
	bool tty;
	char **errors;
	const char *chain; /* --fullchain: appended to every certificate */
};

static int cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static bool csr_name(const char *n)
{
	size_t l = strlen(n);

	return (l > 4 && (strcmp(n + l - 4, ".csr") == 0 || strcmp(n + l - 4, ".pem") == 0 ||
			  strcmp(n + l - 4, ".der") == 0));
}

static void out_path(const struct batch *b, size_t i, char *buf, size_t len)
{
	size_t l = strlen(b->names[i]);

	snprintf(buf, len, "%s/%.*s.crt", b->out_dir, (int)(l - 4), b->names[i]);
}

static int next_csr(void *arg, size_t *item, const uint8_t **csr, size_t *len, hsmca_error *err)
{
	struct batch *b = arg;
	char path[PATH_MAX];

	if (b->next >= b->n)
		return 0;
	*item = b->next++;
	if (hsmca_path_join(path, sizeof(path), err, "%s/%s", b->csr_dir, b->names[*item]) != 0)
		return -1;
	{
		/* A FIFO or device would block or stream forever: this item fails. */
		struct stat st;

		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			b->errors[*item] = strdup("not a regular file");
			b->bufs[*item] = NULL;
			*len = 0;
			*csr = (const uint8_t *)"";
			return 1;
		}
	}
	if (hsmca_read_file(path, HSMCA_CSR_MAX, &b->bufs[*item], len, err) != 0) {
		/* An unreadable or oversized file fails this item, not the batch. */
		b->errors[*item] = strdup(err->msg);
		b->bufs[*item] = NULL;
		*len = 0;
		*csr = (const uint8_t *)"";
		return 1;
	}
	*csr = b->bufs[*item];
	return 1;
}

static int cli_append(char **pem, size_t *len, const char *more)
{
	size_t n = strlen(more);
	char *all = realloc(*pem, *len + n + 1);

	if (!all)
		return -1;
	memcpy(all + *len, more, n + 1);
	*pem = all;
	*len += n;
	return 0;
}

static void done_csr(void *arg, size_t item, const struct hsmca_issued *cert, const hsmca_error *err)
{
	struct batch *b = arg;
	hsmca_error werr = { "", 0 };

	free(b->bufs[item]);
	b->bufs[item] = NULL;
	if (cert) {
		char path[PATH_MAX];
		size_t pem_len;
		char *pem = hsmca_pem_encode("CERTIFICATE", cert->der, cert->der_len, &pem_len);

		if (pem && b->chain && cli_append(&pem, &pem_len, b->chain) != 0) {
			free(pem);
			pem = NULL;
		}
		out_path(b, item, path, sizeof(path));
		if (!pem || hsmca_write_atomic(path, pem, pem_len, 0644, &werr) != 0) {
			b->failed++;
			if (!b->errors[item])
				b->errors[item] = strdup(pem ? werr.msg : "out of memory");
		}
		free(pem);
	} else {
		b->failed++;
		if (!b->errors[item])
			b->errors[item] = strdup(err ? err->msg : "failed");
	}
	b->done++;
	if (b->tty && (b->done % 64 == 0 || b->done == b->n))
		fprintf(stderr, "\rhsmca: issued %zu/%zu (%zu refused)", b->done - b->failed, b->n,
			b->failed);
}

int cmd_issue(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' }, { "csr-dir", required_argument, NULL, 'c' },
		{ "out-dir", required_argument, NULL, 'o' }, { "jobs", required_argument, NULL, 'j' },
		{ "validity", required_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
		{ "chain-out", required_argument, NULL, 'C' }, { "fullchain", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	const char *chain_out = NULL;
	bool fullchain = false;
	char *chain = NULL;
	size_t chain_len = 0;
	struct hsmca_batch_opts bo;
	struct hsmca_batch_ops ops;
	struct hsmca_batch_stats st;
	struct batch b;
	struct hsmca_session *s = NULL;
	hsmca_error err = { "", 0 };
	DIR *d = NULL;
	struct dirent *e;
	size_t cap = 0, i;
	int c, ret = CLI_FAIL;

	memset(&bo, 0, sizeof(bo));
	memset(&b, 0, sizeof(b));
	bo.jobs = 1;
	bo.keep_der = true;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': bo.profile = optarg; break;
		case 'c': b.csr_dir = optarg; break;
		case 'o': b.out_dir = optarg; break;
		case 'j': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 64)
				return cli_usage("issue", "issue: --jobs must be 1..64");
			bo.jobs = (unsigned)v;
			break;
		}
		case 'V':
			if (hsmca_parse_duration(optarg, "--validity", &bo.validity, &err) != 0)
				return cli_usage("issue", "issue: %s", err.msg);
			break;
		case 'C': chain_out = optarg; break;
		case 'F': fullchain = true; break;
		case 'h':
			cli_print_synopsis(stdout, "issue");
			puts("\nIssues a certificate for every *.csr, *.pem or *.der in --csr-dir, written\n"
			     "as <name>.crt in --out-dir. Refused CSRs are listed with the reason; the\n"
			     "rest are issued. --jobs N uses N token sessions. Exit 1 if any was refused.\n"
			     "--chain-out FILE writes the CA's chain up to, not including, the root;\n"
			     "--fullchain appends it to every certificate.");
			return CLI_OK;
		default: return cli_usage("issue", "issue: unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bo.ca = argv[optind++];
	if (optind < argc)
		return cli_usage("issue", "issue: unexpected argument '%s'", argv[optind]);
	if (!bo.ca || !bo.profile || !b.csr_dir || !b.out_dir)
		return cli_usage("issue", "issue: CA, --profile, --csr-dir and --out-dir are required");
	d = opendir(b.csr_dir);
	if (!d)
		return cli_failf("issue: cannot read --csr-dir %s: %s", b.csr_dir, strerror(errno));
	while ((e = readdir(d))) {
		if (!csr_name(e->d_name) || strlen(e->d_name) >= 256)
			continue;
		if (b.n == cap) {
			char (*nn)[256];

			cap = cap ? cap * 2 : 64;
			nn = realloc(b.names, cap * sizeof(*b.names));
			if (!nn) {
				cli_failf("issue: out of memory");
				goto out;
			}
			b.names = nn;
		}
		snprintf(b.names[b.n++], 256, "%s", e->d_name);
	}
	closedir(d);
	d = NULL;
	if (b.n == 0) {
		cli_failf("issue: no *.csr, *.pem or *.der files in %s", b.csr_dir);
		goto out;
	}
	qsort(b.names, b.n, sizeof(*b.names), cmp);
	if (hsmca_mkdir_p(b.out_dir, 0755, &err) != 0 || hsmca_outcheck_dir(b.out_dir, &err) != 0) {
		cli_failf("issue: nothing was issued: %s", err.msg);
		goto out;
	}
	for (i = 0; i + 1 < b.n; i++) {
		size_t l1 = strlen(b.names[i]) - 4, l2 = strlen(b.names[i + 1]) - 4;

		/* x.csr and x.der would both become x.crt. */
		if (l1 == l2 && strncmp(b.names[i], b.names[i + 1], l1) == 0) {
			cli_failf("issue: %s and %s would both be written as the same .crt; nothing was "
				  "issued", b.names[i], b.names[i + 1]);
			goto out;
		}
	}
	for (i = 0; i < b.n; i++) {
		char path[PATH_MAX];

		out_path(&b, i, path, sizeof(path));
		if (hsmca_outcheck_file(path, false, &err) != 0) {
			cli_failf("issue: nothing was issued: %s (use an empty --out-dir)", err.msg);
			goto out;
		}
	}
	b.bufs = calloc(b.n, sizeof(*b.bufs));
	b.errors = calloc(b.n, sizeof(*b.errors));
	if (!b.bufs || !b.errors) {
		cli_failf("issue: out of memory");
		goto out;
	}
	b.tty = isatty(STDERR_FILENO) && cli.verbosity >= 0;
	if (cli_open(&s, true) != 0)
		goto out;
	/* The chain is the CA's, the same for every certificate: fetched once, before issuing. */
	if ((chain_out || fullchain) &&
	    ((chain = calloc(1, 1)) == NULL ||
	     cli_write_chain("issue", s->home, bo.ca, chain_out, fullchain, &chain, &chain_len) != 0))
		goto out;
	b.chain = fullchain ? chain : NULL;
	ops.next = next_csr;
	ops.done = done_csr;
	ops.arg = &b;
	if (hsmca_issue_batch(s, &bo, &ops, &st, &err) != 0) {
		if (b.tty)
			fputc('\n', stderr);
		cli_failf("issue: batch stopped after %zu certificates: %s", st.issued, err.msg);
		goto report;
	}
	if (b.tty)
		fputc('\n', stderr);
	cli_info("hsmca: issued %zu certificate%s into %s in %.2fs (%.0f/s, %u session%s); %zu refused\n",
		 st.issued, st.issued == 1 ? "" : "s", b.out_dir, st.seconds,
		 st.seconds > 0 ? (double)st.issued / st.seconds : 0.0, bo.jobs, bo.jobs == 1 ? "" : "s",
		 b.failed);
	ret = b.failed ? CLI_FAIL : CLI_OK;
report:
	for (i = 0; i < b.n; i++)
		if (b.errors[i])
			fprintf(stderr, "hsmca: %s/%s refused: %s\n", b.csr_dir, b.names[i], b.errors[i]);
out:
	if (d)
		closedir(d);
	for (i = 0; b.errors && i < b.n; i++)
		free(b.errors[i]);
	for (i = 0; b.bufs && i < b.n; i++)
		free(b.bufs[i]);
	free(b.errors);
	free(b.bufs);
	free(b.names);
	free(chain);
	cli_close(s);
	return ret;
}
