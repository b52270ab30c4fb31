/* hsmca bundle request | sign | verify | import (docs/ceremony.md) */
#include "cli/cli.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/checkpoint.h"
#include "bundle/bundle.h"
#include "common/fsutil.h"
#include "common/util.h"

/* The online state directory, if there is one (request and import keep
 * track of requests there). */
static bool online_home(char *home, size_t len)
{
	hsmca_error err = { "", 0 };

	return hsmca_home_resolve(cli.home, home, len, &err) == 0 && hsmca_config_exists(home);
}

static int kept_request_path(const char *home, const char *id, const char *ext, char *out,
			     size_t len, hsmca_error *err)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return hsmca_error_set(err, "request id '%s' is not hex", id);
	if (i != 32)
		return hsmca_error_set(err, "request id '%s' is not 32 hex digits", id);
	return hsmca_path_join(out, len, err, "%s/bundles/%s.%s", home, id, ext);
}

static int bundle_request(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ca", required_argument, NULL, 'c' },	     { "profile", required_argument, NULL, 'p' },
		{ "csr-dir", required_argument, NULL, 'd' }, { "out", required_argument, NULL, 'o' },
		{ "note", required_argument, NULL, 'n' },    { "validity", required_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ca = NULL, *profile = NULL, *dir = NULL, *out = NULL, *note = NULL;
	struct hsmca_bundle_request req;
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], path[PATH_MAX], *manifest = NULL;
	int64_t validity = 0;
	int c, ret = CLI_FAIL;

	memset(&req, 0, sizeof(req));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ca = optarg; break;
		case 'p': profile = optarg; break;
		case 'd': dir = optarg; break;
		case 'o': out = optarg; break;
		case 'n': note = optarg; break;
		case 'V':
			if (hsmca_parse_duration(optarg, "--validity", &validity, &err) != 0)
				return cli_usage("bundle", "bundle request: %s", err.msg);
			break;
		default: return cli_usage("bundle", "bundle request: unknown or incomplete option '%s'",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("bundle", "bundle request: unexpected argument '%s'", argv[optind]);
	if (!ca || !profile || !dir || !out)
		return cli_usage("bundle", "bundle request: --ca, --profile, --csr-dir and --out are "
					   "required");
	if (hsmca_bundle_request_make(ca, profile, validity, note, dir, out, &manifest, &req, &err) != 0) {
		cli_failf("bundle request: %s", err.msg);
		goto out;
	}
	/* Keep the manifest online: import checks the response against it. */
	if (online_home(home, sizeof(home))) {
		hsmca_audit *a = NULL;
		const char *d[] = { "request_id", req.id, "request_sha256", req.sha256, "out", out, NULL };

		if (hsmca_path_join(path, sizeof(path), &err, "%s/bundles", home) != 0 ||
		    hsmca_mkdir_p(path, 0755, &err) != 0 ||
		    kept_request_path(home, req.id, "request.json", path, sizeof(path), &err) != 0 ||
		    hsmca_write_atomic(path, manifest, strlen(manifest), 0644, &err) != 0 ||
		    hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0 ||
		    hsmca_audit_open(path, &a, &err) != 0 ||
		    hsmca_audit_append(a, "bundle-request", ca, "ok", d, &err) != 0) {
			hsmca_audit_close(a);
			unlink(out);
			cli_failf("bundle request: %s", err.msg);
			goto out;
		}
		hsmca_audit_close(a);
	}
	printf("wrote %s: request %s, %zu CSR%s for CA %s, profile %s\n  manifest SHA-256 %s "
	       "(read it to the offline witnesses)\n",
	       out, req.id, req.n, req.n == 1 ? "" : "s", ca, profile, req.sha256);
	ret = CLI_OK;
out:
	free(manifest);
	hsmca_bundle_request_clear(&req);
	return ret;
}

struct review {
	bool yes;
};

static bool review(void *arg, const struct hsmca_bundle_request *req)
{
	struct review *rv = arg;
	char answer[16];
	size_t i;
	ssize_t n;
	int fd;

	printf("request %s (SHA-256 %s)\n  from %s at %s%s%s\n  CA %s, profile %s, validity %s\n",
	       req->id, req->sha256, req->requester, req->time, req->note[0] ? ", note: " : "",
	       req->note, req->ca, req->profile, req->validity ? "as requested" : "profile default");
	if (req->validity)
		printf("  requested validity: %lld s\n", (long long)req->validity);
	printf("  %-4s %-10s %-40s %s\n", "#", "key", "subject", "SANs");
	for (i = 0; i < req->n; i++)
		printf("  %-4u %-10s %-40s %s\n", req->csrs[i].index, req->csrs[i].key_type,
		       req->csrs[i].subject, req->csrs[i].sans[0] ? req->csrs[i].sans : "-");
	fflush(stdout);
	if (rv->yes)
		return true;
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "hsmca: bundle sign: no terminal to confirm on; review the table and "
				"pass --yes\n");
		return false;
	}
	dprintf(fd, "Sign these %zu requests with CA %s? Type 'yes': ", req->n, req->ca);
	n = read(fd, answer, sizeof(answer) - 1);
	close(fd);
	if (n <= 0)
		return false;
	answer[n] = '\0';
	answer[strcspn(answer, "\r\n")] = '\0';
	return strcmp(answer, "yes") == 0;
}

static void result(void *arg, const struct hsmca_bundle_csr *c, const struct hsmca_bundle_result *r)
{
	(void)arg;
	if (r->issued)
		printf("  %-4u issued   serial %s\n", c->index, r->serial);
	else
		printf("  %-4u REFUSED  %s\n", c->index, r->reason);
}

static int bundle_sign(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "yes", no_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 },
	};
	struct review rv = { false };
	struct hsmca_bundle_sign_ops ops = { review, result, &rv };
	struct hsmca_session *s = NULL;
	hsmca_error err = { "", 0 };
	const char *out = NULL, *in = NULL;
	size_t issued = 0, refused = 0;
	bool declined = false;
	int c, ret = CLI_FAIL;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'y': rv.yes = true; break;
		default: return cli_usage("bundle", "bundle sign: unknown or incomplete option '%s'",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		in = argv[optind++];
	if (optind < argc)
		return cli_usage("bundle", "bundle sign: unexpected argument '%s'", argv[optind]);
	if (!in || !out)
		return cli_usage("bundle", "bundle sign: give the request bundle and --out");
	if (cli_open(&s, true) != 0)
		return CLI_FAIL;
	if (hsmca_bundle_sign(s, in, out, &ops, &issued, &refused, &declined, &err) != 0) {
		cli_failf("bundle sign: %s", err.msg);
		goto out;
	}
	printf("wrote %s: %zu issued, %zu refused; manifest signed in the token by the issuing CA\n",
	       out, issued, refused);
	ret = CLI_OK;
out:
	cli_close(s);
	return ret;
}

/* Verify, and with out_dir write the certificates (import). */
static int bundle_check(int argc, char **argv, bool import)
{
	static const struct option opts[] = {
		{ "anchor", required_argument, NULL, 'a' },  { "request", required_argument, NULL, 'r' },
		{ "audit-anchor", required_argument, NULL, 'A' },
		{ "out-dir", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 },
	};
	const char *anchor = NULL, *reqp = NULL, *aanchor = NULL, *outdir = NULL, *in = NULL;
	const char *verb = import ? "bundle import" : "bundle verify";
	struct hsmca_bundle resp = { NULL, 0 }, reqb = { NULL, 0 };
	struct hsmca_bundle_request req;
	struct hsmca_bundle_verified v;
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], path[PATH_MAX], id[33];
	uint8_t *kept = NULL;
	size_t kept_len = 0, i;
	bool have_home = online_home(home, sizeof(home));
	int c, ret = CLI_FAIL;

	memset(&req, 0, sizeof(req));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': anchor = optarg; break;
		case 'r': reqp = optarg; break;
		case 'A': aanchor = optarg; break;
		case 'o': outdir = optarg; break;
		default: return cli_usage("bundle", "%s: unknown or incomplete option '%s'", verb,
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		in = argv[optind++];
	if (optind < argc)
		return cli_usage("bundle", "%s: unexpected argument '%s'", verb, argv[optind]);
	if (!in || !anchor || (import && !outdir) || (!import && outdir))
		return cli_usage("bundle", "%s: give the response bundle and --anchor%s", verb,
				 import ? " and --out-dir" : "");
	if (hsmca_bundle_read(in, &resp, &err) != 0)
		goto fail;
	if (reqp) {
		if (hsmca_bundle_read(reqp, &reqb, &err) != 0 ||
		    hsmca_bundle_request_load(&reqb, &req, &err) != 0) {
			hsmca_error_prefix(&err, "request %s", reqp);
			goto fail;
		}
	} else {
		if (!have_home) {
			hsmca_error_set(&err, "no --request and no online state directory keeping the "
					      "request");
			goto fail;
		}
		if (hsmca_bundle_response_request_id(&resp, id, &err) != 0 ||
		    kept_request_path(home, id, "request.json", path, sizeof(path), &err) != 0)
			goto fail;
		if (hsmca_read_file(path, 64u << 20, &kept, &kept_len, &err) != 0) {
			hsmca_error_set(&err, "the response answers request %s, which this state "
					      "directory never made (%s)", id, err.msg);
			goto fail;
		}
		if (hsmca_bundle_request_parse((const char *)kept, kept_len, &req, &err) != 0)
			goto fail;
	}
	if (hsmca_bundle_verify(&resp, anchor, &req, aanchor, &v, &err) != 0)
		goto fail;
	if (import) {
		char marker[PATH_MAX];
		struct stat st;

		if (have_home) {
			if (kept_request_path(home, req.id, "imported", marker, sizeof(marker), &err) != 0)
				goto fail;
			if (stat(marker, &st) == 0) {
				hsmca_error_set(&err, "request %s was already imported (%s): a replayed "
						      "response", req.id, marker);
				goto fail;
			}
		}
		if (hsmca_mkdir_p(outdir, 0755, &err) != 0)
			goto fail;
		for (i = 0; i < req.n; i++) {
			char name[160], src[160];
			const struct hsmca_bundle_file *f;

			snprintf(name, sizeof(name), "certs/%04u.pem", req.csrs[i].index);
			f = hsmca_bundle_get(&resp, name);
			if (!f)
				continue; /* refused */
			snprintf(src, sizeof(src), "%s", req.csrs[i].source);
			if (strrchr(src, '.') && strrchr(src, '.') != src)
				*strrchr(src, '.') = '\0'; /* node1.example.csr -> node1.example.pem */
			if (!src[0] || src[0] == '.' || strchr(src, '/'))
				snprintf(src, sizeof(src), "%04u", req.csrs[i].index);
			if (hsmca_path_join(path, sizeof(path), &err, "%s/%s.pem", outdir, src) != 0 ||
			    hsmca_write_atomic(path, f->data, f->len, 0644, &err) != 0)
				goto fail;
		}
		{
			const char *names[] = { "chain.pem", "crl.pem" };

			for (i = 0; i < 2; i++) {
				const struct hsmca_bundle_file *f = hsmca_bundle_get(&resp, names[i]);

				if (hsmca_path_join(path, sizeof(path), &err, "%s/%s", outdir, names[i]) != 0 ||
				    hsmca_write_atomic(path, f->data, f->len, 0644, &err) != 0)
					goto fail;
			}
		}
		if (have_home) {
			hsmca_audit *a = NULL;
			char n1[24];
			const char *d[] = { "request_id", req.id, "issued", n1, "out_dir", outdir, NULL };

			snprintf(n1, sizeof(n1), "%zu", v.issued);
			if (hsmca_write_atomic(marker, req.sha256, strlen(req.sha256), 0644, &err) != 0 ||
			    hsmca_path_join(path, sizeof(path), &err, "%s/audit.log", home) != 0 ||
			    hsmca_audit_open(path, &a, &err) != 0 ||
			    hsmca_audit_append(a, "bundle-import", v.ca, "ok", d, &err) != 0) {
				hsmca_audit_close(a);
				goto fail;
			}
			hsmca_audit_close(a);
		}
	}
	printf("%s: response to request %s verified: signed by CA %s chaining to %s; %zu issued, "
	       "%zu refused, every file as listed, every certificate for its CSR's key\n",
	       in, v.request_id, v.ca, anchor, v.issued, v.refused);
	if (v.checkpoint_verified)
		printf("  audit lines %zu..%zu of the signing chain to checkpoint %zu, signed by %s\n",
		       v.audit_first, v.audit_last, v.checkpoint, aanchor);
	else
		printf("  audit checkpoint not verified (give --audit-anchor audit-key.pem)\n");
	if (import)
		printf("  wrote %zu certificates, chain.pem and crl.pem to %s\n", v.issued, outdir);
	ret = CLI_OK;
	goto out;
fail:
	cli_failf("%s %s: %s", verb, in ? in : "", err.msg);
out:
	free(kept);
	hsmca_bundle_request_clear(&req);
	hsmca_bundle_clear(&resp);
	hsmca_bundle_clear(&reqb);
	return ret;
}

int cmd_bundle(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		cli_print_synopsis(argc < 2 ? stderr : stdout, "bundle");
		return argc < 2 ? CLI_USAGE : CLI_OK;
	}
	if (strcmp(argv[1], "request") == 0)
		return bundle_request(argc - 1, argv + 1);
	if (strcmp(argv[1], "sign") == 0)
		return bundle_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") == 0)
		return bundle_check(argc - 1, argv + 1, false);
	if (strcmp(argv[1], "import") == 0)
		return bundle_check(argc - 1, argv + 1, true);
	return cli_usage("bundle", "bundle: unknown action '%s'", argv[1]);
}
