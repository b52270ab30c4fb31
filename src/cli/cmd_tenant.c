/* hsmca tenant rotate-ca --name NAME --namespace NS [--kubeconfig FILE]
 *       [--kamaji-namespace cozy-kamaji] [--method delete|annotate] [--out FILE]
 *       [--timeout D] [--lease-duration D] [--keep-front-proxy-ca] [--no-wait-workers]
 *       [--dry-run=true|false] [--resume|--abort] */
#include "cli/cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"
#include "state/config.h"
#include "tenant/tenant.h"

static void progress(void *arg, const char *step, const char *msg)
{
	(void)arg;
	cli_info("hsmca: tenant: %s: %s\n", step, msg);
}

static int parse_bool(const char *s, bool *out)
{
	if (!s || strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "1") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "0") == 0) {
		*out = false;
		return 0;
	}
	return -1;
}

static const char *jget(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : "";
}

static void print_pods(json_object *group)
{
	json_object *pods = NULL;
	size_t n;

	json_object_object_get_ex(group, "pods", &pods);
	n = pods ? json_object_array_length(pods) : 0;
	printf("  %-16s -l %s%s%s%s: %zu pod%s\n", jget(group, "namespace"), jget(group, "selector"),
	       json_object_object_get_ex(group, "prefix", NULL) ? ", name " : "",
	       jget(group, "prefix"), json_object_object_get_ex(group, "prefix", NULL) ? "*" : "", n,
	       n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pods, i);
		json_object *ready = NULL;

		json_object_object_get_ex(p, "ready", &ready);
		printf("      %s (uid %s%s)\n", jget(p, "name"), jget(p, "uid"),
		       json_object_get_boolean(ready) ? ", Ready" : ", not Ready");
	}
}

static void print_secret(json_object *s)
{
	const char *fp = json_object_object_get_ex(s, "front_proxy_ca", NULL)
				 ? " -- the front-proxy CA: beyond the seed procedure, so an old "
				   "front-proxy-client key cannot assert X-Remote-User any more"
				 : "";
	json_object *v;

	if (json_object_object_get_ex(s, "missing", NULL))
		printf("  %s (absent now: not deleted, not awaited)\n", jget(s, "name"));
	else if (json_object_object_get_ex(s, "annotation_value", &v))
		printf("  %s (uid %s, resourceVersion %s, %s=\"%s\")%s\n", jget(s, "name"),
		       jget(s, "uid"), jget(s, "resourceVersion"), HSMCA_TENANT_ROTATE_ANNOTATION,
		       json_object_get_string(v), fp);
	else
		printf("  %s (uid %s, resourceVersion %s)%s\n", jget(s, "name"), jget(s, "uid"),
		       jget(s, "resourceVersion"), fp);
}

static void print_plan(json_object *p, int64_t timeout_s)
{
	json_object *v, *await, *w;
	bool annotate = json_object_object_get_ex(p, "annotate", &v);

	printf("dry run: nothing is changed (add --dry-run=false to rotate)\n");
	if (*jget(p, "name_note"))
		printf("--name %s: %s\n", jget(p, "given_name"), jget(p, "name_note"));
	printf("tenant %s in namespace %s, method %s, management API server %s\n", jget(p, "tenant"),
	       jget(p, "namespace"), jget(p, "method"), jget(p, "server"));
	json_object_object_get_ex(p, "tenantcontrolplane", &v);
	printf("current tenant CA sha256 %s; front-proxy CA sha256 %s; TenantControlPlane %s is %s\n",
	       jget(p, "ca_sha256"), *jget(p, "front_proxy_ca_sha256") ? jget(p, "front_proxy_ca_sha256")
								       : "(none)",
	       jget(v, "name"), jget(v, "status"));
	if (json_object_get_boolean(json_object_object_get(v, "paused")))
		printf("warning: the TenantControlPlane carries kamaji.clastix.io/paused: Kamaji would "
		       "not regenerate the Secrets, and a real run refuses to start\n");
	if (strcmp(jget(v, "status"), "Sleeping") == 0)
		printf("warning: the TenantControlPlane is Sleeping (0 replicas): a real run refuses "
		       "to start\n");
	if (annotate) {
		json_object_object_get_ex(p, "annotate", &v);
		printf("would annotate %zu secrets in %s with %s=\"\" (Kamaji then keeps the "
		       "annotation with the time of the rotation):\n", json_object_array_length(v),
		       jget(p, "namespace"), jget(p, "annotation"));
	} else {
		json_object_object_get_ex(p, "delete", &v);
		printf("would delete %zu secrets in %s (each only with the uid shown):\n",
		       json_object_array_length(v), jget(p, "namespace"));
	}
	for (size_t i = 0; i < json_object_array_length(v); i++)
		print_secret(json_object_array_get_idx(v, i));
	json_object_object_get_ex(p, "untouched", &v);
	printf("would leave untouched:\n");
	for (size_t i = 0; i < json_object_array_length(v); i++) {
		json_object *s = json_object_array_get_idx(v, i);

		if (json_object_is_type(s, json_type_string))
			printf("  %s (no certificate)\n", json_object_get_string(s));
		else
			printf("  %s (--keep-front-proxy-ca: the seed procedure's behaviour)\n",
			       jget(s, "name"));
	}
	printf("would restart (delete) the pods:\n");
	json_object_object_get_ex(p, "restart", &v);
	for (size_t i = 0; i < json_object_array_length(v); i++)
		print_pods(json_object_array_get_idx(v, i));
	json_object_object_get_ex(p, "await", &await);
	printf("would then wait, by watching, at most %lld s for:\n", (long long)timeout_s);
	json_object_object_get_ex(await, "secrets", &v);
	printf("  the %zu secrets above back with new CAs (%s), front-proxy-client signed by the "
	       "front-proxy CA, none holding a certificate of an old one\n",
	       json_object_array_length(v), annotate ? "new certificate, rotation time after the start"
						     : "new uid");
	printf("  TenantControlPlane %s status Ready (WriteLimited counts; Sleeping fails)\n",
	       jget(p, "tenant"));
	printf("  these pods replaced (new uid) and Ready:\n");
	json_object_object_get_ex(await, "pods", &v);
	for (size_t i = 0; i < json_object_array_length(v); i++)
		print_pods(json_object_array_get_idx(v, i));
	if (json_object_object_get_ex(p, "workers", &w) &&
	    !json_object_get_boolean(json_object_object_get(w, "wait")))
		printf("  (not the worker VMs' pods: --no-wait-workers)\n");
	printf("would write the new admin kubeconfig (super-admin.conf, else admin.conf) to %s "
	       "(mode 0600), prove it against the tenant API server and prove the old one refused\n",
	       jget(p, "out"));
	if (json_object_object_get_ex(p, "journal", &v) && v)
		printf("note: an unfinished rotation is journaled in %s (last step %s): a real run "
		       "needs --resume or --abort\n", jget(v, "path"), jget(v, "step"));
}

static void print_result(const hsmca_tenant_result *r, const char *ns, const char *name)
{
	if (cli.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "tenant", json_object_new_string(name));
		json_object_object_add(o, "name_note", json_object_new_string(r->name_note));
		json_object_object_add(o, "old_front_proxy_ca_sha256",
				       json_object_new_string(r->old_fp_ca_sha256));
		json_object_object_add(o, "new_front_proxy_ca_sha256",
				       json_object_new_string(r->new_fp_ca_sha256));
		json_object_object_add(o, "worker_vm_pods", json_object_new_int((int)r->workers));
		json_object_object_add(o, "namespace", json_object_new_string(ns));
		json_object_object_add(o, "old_ca_sha256", json_object_new_string(r->old_ca_sha256));
		json_object_object_add(o, "new_ca_sha256", json_object_new_string(r->new_ca_sha256));
		json_object_object_add(o, "kubeconfig", json_object_new_string(r->out));
		json_object_object_add(o, "kubeconfig_key", json_object_new_string(r->kubeconfig_key));
		json_object_object_add(o, "tenant_version", json_object_new_string(r->tenant_version));
		json_object_object_add(o, "old_kubeconfig", json_object_new_string(r->old_kubeconfig));
		json_object_object_add(o, "old_credential", json_object_new_string(r->old_credential));
		json_object_object_add(o, "resumed", json_object_new_boolean(r->resumed));
		json_object_object_add(o, "deleted", json_object_new_int((int)r->deleted));
		json_object_object_add(o, "restarted", json_object_new_int((int)r->restarted));
		json_object_object_add(o, "already_gone", json_object_new_int((int)r->already_gone));
		json_object_object_add(o, "watch_lists", json_object_new_int((int)r->lists));
		json_object_object_add(o, "watch_expired", json_object_new_int((int)r->expired));
		json_object_object_add(o, "watch_reconnects", json_object_new_int((int)r->reconnects));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		return;
	}
	if (r->name_note[0])
		printf("--name: %s\n", r->name_note);
	printf("tenant %s/%s: CA rotated%s\n", ns, name, r->resumed ? " (resumed)" : "");
	printf("  old CA sha256:        %s\n", r->old_ca_sha256);
	printf("  new CA sha256:        %s\n", r->new_ca_sha256);
	if (!r->old_fp_ca_sha256[0])
		printf("  front-proxy CA:       none (the tenant had no front-proxy CA Secret)\n");
	else if (strcmp(r->old_fp_ca_sha256, r->new_fp_ca_sha256) == 0)
		printf("  front-proxy CA:       kept (--keep-front-proxy-ca), sha256 %s\n",
		       r->old_fp_ca_sha256);
	else
		printf("  old front-proxy CA:   %s\n  new front-proxy CA:   %s\n", r->old_fp_ca_sha256,
		       r->new_fp_ca_sha256);
	printf("  new admin kubeconfig: %s (mode 0600, from %s); tenant API server answered %s\n",
	       r->out, r->kubeconfig_key, r->tenant_version);
	printf("  old admin kubeconfig: %s\n", r->old_kubeconfig);
	printf("  old admin credential: %s\n", r->old_credential);
	if (!r->resumed)
		printf("  worker VM pods:       %u replaced and Ready\n", r->workers);
	printf("  this run: %u secrets deleted, %u pods restarted, %u found already replaced; "
	       "watch: %u lists, %u expired (410) and listed again, %u streams resumed\n",
	       r->deleted, r->restarted, r->already_gone, r->lists, r->expired, r->reconnects);
}

static void help(void)
{
	cli_print_synopsis(stdout, "tenant");
	puts("\nRotates the CA of a Kamaji tenant control plane through the management\n"
	     "cluster's API. --name is the TenantControlPlane (Cozystack: kubernetes-<app>;\n"
	     "<app> alone is accepted if only kubernetes-<app> exists). Method delete (the\n"
	     "default) deletes the tenant's <name>-... Secrets -- the eleven of the seed\n"
	     "procedure and the front-proxy CA -- and restarts the Kamaji controller and\n"
	     "<name>-kcsi-driver pods; method annotate sets certs.kamaji.clastix.io/rotate=\"\"\n"
	     "on <name>-ca and <name>-front-proxy-ca-certificate. Then it watches, until\n"
	     "--timeout (default 15m), for every Secret to come back with the new CAs, the\n"
	     "TenantControlPlane to be Ready and the worker VMs' virt-launcher pods\n"
	     "(-l cluster.x-k8s.io/cluster-name=<name>) to be replaced and Ready; writes the\n"
	     "new admin kubeconfig to --out (mode 0600, default ./<name>-admin.kubeconfig),\n"
	     "proves it against the tenant API server and proves the old one refused. The\n"
	     "CA fingerprints go to the audit log.\n\n"
	     "  --dry-run[=true|false]  default true: list what would be deleted, restarted\n"
	     "                          and awaited, and change nothing\n"
	     "  --kubeconfig FILE       management cluster (default $KUBECONFIG, ~/.kube/config)\n"
	     "  --keep-front-proxy-ca   leave the front-proxy CA (the seed procedure's way)\n"
	     "  --no-wait-workers       the tenant has no worker VMs: await none (without it,\n"
	     "                          finding no worker VM pod refuses the run)\n"
	     "  --lease-duration D      the Lease's leaseDurationSeconds (default 60s; renewed\n"
	     "                          every third of it)\n"
	     "  --resume                continue a journaled run (waits; never deletes twice)\n"
	     "  --abort                 clear a journaled run that deleted nothing yet\n\n"
	     "A real run needs an hsmca state directory (--home): its journal is\n"
	     "<home>/tenant/<namespace>-<name>/journal.jsonl. A real run (and --resume)\n"
	     "holds the Lease hsmca-rotate-<name> in the tenant namespace: a second hsmca,\n"
	     "from any state directory or machine, is refused naming the holder until the\n"
	     "Lease is released or expires (60 s after its last renewal). See docs/rotation.md.");
}

static int rotate_ca(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'N' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "kamaji-namespace", required_argument, NULL, 'K' },
		{ "method", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "lease-duration", required_argument, NULL, 'L' },
		{ "dry-run", optional_argument, NULL, 'd' },
		{ "resume", no_argument, NULL, 'r' },
		{ "abort", no_argument, NULL, 'a' },
		{ "keep-front-proxy-ca", no_argument, NULL, 'F' },
		{ "no-wait-workers", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	hsmca_tenant_opts o;
	hsmca_tenant_result res;
	hsmca_error err = { "", 0 };
	char home[PATH_MAX], kcpath[PATH_MAX];
	bool dry_run = true, dry_given = false, resume = false, abort_ = false;
	int c;

	memset(&o, 0, sizeof(o));
	o.progress = progress;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': o.name = optarg; break;
		case 'n': o.namespace = optarg; break;
		case 'k': o.kubeconfig = optarg; break;
		case 'K': o.kamaji_namespace = optarg; break;
		case 'o': o.out = optarg; break;
		case 'm':
			if (strcmp(optarg, "delete") == 0)
				o.method = HSMCA_TENANT_METHOD_DELETE;
			else if (strcmp(optarg, "annotate") == 0)
				o.method = HSMCA_TENANT_METHOD_ANNOTATE;
			else
				return cli_usage("tenant", "tenant rotate-ca: --method is delete or "
						 "annotate, not '%s'", optarg);
			o.method_given = true;
			break;
		case 't':
			if (hsmca_parse_duration(optarg, "--timeout", &o.timeout_s, &err) != 0)
				return cli_usage("tenant", "tenant rotate-ca: %s", err.msg);
			break;
		case 'L': {
			int64_t d;

			if (hsmca_parse_duration(optarg, "--lease-duration", &d, &err) != 0)
				return cli_usage("tenant", "tenant rotate-ca: %s", err.msg);
			if (d < 3 || d > 3600)
				return cli_usage("tenant", "tenant rotate-ca: --lease-duration is 3s to 1h");
			o.lease_duration_s = (int)d;
			break;
		}
		case 'd':
			if (parse_bool(optarg, &dry_run) != 0)
				return cli_usage("tenant", "tenant rotate-ca: --dry-run takes true or "
						 "false, not '%s'", optarg);
			dry_given = true;
			break;
		case 'r': resume = true; break;
		case 'a': abort_ = true; break;
		case 'F': o.keep_front_proxy_ca = true; break;
		case 'W': o.no_wait_workers = true; break;
		case 'h': help(); return CLI_OK;
		default:
			return cli_usage("tenant", "tenant rotate-ca: unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("tenant", "tenant rotate-ca: unexpected argument '%s'", argv[optind]);
	if (!o.name || !o.namespace)
		return cli_usage("tenant", "tenant rotate-ca: --name and --namespace are required");
	if (resume && abort_)
		return cli_usage("tenant", "tenant rotate-ca: --resume and --abort exclude each other");
	if ((resume || abort_) && dry_given && dry_run)
		return cli_usage("tenant", "tenant rotate-ca: --%s acts; it cannot be a dry run",
				 resume ? "resume" : "abort");
	if (resume || abort_)
		dry_run = false;
	if (!o.kubeconfig) {
		const char *env = getenv("KUBECONFIG"), *h = getenv("HOME");

		if (env && *env) {
			if (strchr(env, ':'))
				return cli_usage("tenant", "tenant rotate-ca: KUBECONFIG lists several "
						 "files; choose one with --kubeconfig");
			o.kubeconfig = env;
		} else if (h && snprintf(kcpath, sizeof(kcpath), "%s/.kube/config", h) <
					(int)sizeof(kcpath)) {
			o.kubeconfig = kcpath;
		} else {
			return cli_usage("tenant", "tenant rotate-ca: no --kubeconfig and no $HOME");
		}
	}
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0)
		return cli_failf("tenant rotate-ca: %s", err.msg);
	o.home = home;
	if (dry_run) {
		json_object *plan = NULL;

		if (!hsmca_config_exists(home))
			o.home = NULL;
		if (hsmca_tenant_plan(&o, &plan, &err) != 0)
			return cli_failf("tenant rotate-ca: dry run: %s", err.msg);
		if (cli.json)
			puts(json_object_to_json_string_ext(plan, JSON_C_TO_STRING_PRETTY));
		else
			print_plan(plan, o.timeout_s > 0 ? o.timeout_s : HSMCA_TENANT_DEFAULT_TIMEOUT_S);
		{
			json_object *w = NULL, *why = NULL;
			char msg[1024];

			if (json_object_object_get_ex(plan, "workers", &w) &&
			    json_object_object_get_ex(w, "refused", &why) && why) {
				snprintf(msg, sizeof(msg), "%s", json_object_get_string(why));
				json_object_put(plan);
				return cli_failf("tenant rotate-ca: dry run: a real run would be refused: %s",
						 msg);
			}
		}
		json_object_put(plan);
		return CLI_OK;
	}
	if (abort_) {
		char msg[1024];

		if (hsmca_tenant_abort(&o, msg, sizeof(msg), &err) != 0)
			return cli_failf("tenant rotate-ca: %s", err.msg);
		printf("%s\n", msg);
		return CLI_OK;
	}
	if (hsmca_tenant_rotate(&o, resume, &res, &err) != 0)
		return cli_failf("tenant rotate-ca: %s", err.msg);
	print_result(&res, o.namespace, res.name);
	return CLI_OK;
}

int cmd_tenant(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		if (argc < 2)
			return cli_usage("tenant", "tenant: give an action (rotate-ca)");
		help();
		return CLI_OK;
	}
	if (strcmp(argv[1], "rotate-ca") == 0)
		return rotate_ca(argc - 1, argv + 1);
	return cli_usage("tenant", "tenant: unknown action '%s'", argv[1]);
}
