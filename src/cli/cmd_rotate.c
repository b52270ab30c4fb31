/* hsmca [-f nodes/node.yaml] rotate-ca [--talos=true|false] [--kubernetes=true|false]
 *       [--dry-run=true|false] [--nodes IP,…] [--endpoints IP,…] [--control-plane-nodes IP,…]
 *       [--worker-nodes IP,…] [--talosconfig FILE] [--context NAME] [--key-type T]
 *       [--output FILE] [--kubeconfig FILE] [--kube-context NAME] [--k8s-endpoint URL]
 *       [--k8s-node-endpoints URL,…] [--kubeconfig-output FILE] [--parallel N]
 *       [--resume | --abort]
 * hsmca rotate status */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/util.h"
#include "state/config.h"
#include "rotate/rotate.h"

/* --flag, --flag=true|false (cobra habits: also 1/0, yes/no, t/f). */
static int parse_bool(const char *opt, const char *v, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "t", "TRUE", "True", NULL };
	static const char *const no[] = { "false", "0", "no", "f", "FALSE", "False", NULL };
	size_t i;

	if (!v) {
		*out = true;
		return 0;
	}
	for (i = 0; yes[i]; i++)
		if (strcmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
	for (i = 0; no[i]; i++)
		if (strcmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	return cli_usage("rotate-ca", "rotate-ca: --%s takes true or false, not '%s'", opt, v);
}

/* Append the comma-separated items of `v` to the NULL-terminated *list. */
static int add_list(char ***list, const char *v, const char *opt)
{
	char *copy = strdup(v), *save = NULL, *tok;
	size_t n = 0;

	if (!copy)
		return cli_failf("out of memory");
	while (*list && (*list)[n])
		n++;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char **nl;

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		nl = realloc(*list, (n + 2) * sizeof(*nl));
		if (!nl || !(nl[n] = strdup(tok))) {
			free(copy);
			if (nl)
				*list = nl;
			return cli_failf("out of memory");
		}
		nl[++n] = NULL;
		*list = nl;
	}
	free(copy);
	if (n == 0)
		return cli_usage("rotate-ca", "rotate-ca: --%s is empty", opt);
	return 0;
}

static void list_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- printing ---- */

static void print_ca(const char *title, const struct hsmca_rot_ca_view *v, const char *validity)
{
	printf("%s: %s%s\n", title, v->name, v->exists ? "" : " (made in step 1)");
	printf("  subject      %s\n", v->subject);
	if (v->exists) {
		printf("  SHA-256      %s\n", v->fingerprint);
		printf("  key          %s (%s; in the token: %s)\n", v->key_uri,
		       v->key_type[0] ? v->key_type : "?", v->key_present ? "yes" : "NO");
		printf("  valid        %s to %s\n", v->not_before, v->not_after);
	} else {
		printf("  key          %s, generated in the token, non-extractable\n", v->key_type);
		printf("               %s\n", v->key_uri);
		printf("  valid        %s\n", validity);
	}
}

static bool is_kube(const struct hsmca_rot_plan *p)
{
	return strcmp(p->target, "kubernetes") == 0;
}

static void print_creds(const struct hsmca_rot_plan *p)
{
	size_t i;

	if (is_kube(p)) {
		printf("\nCredentials: %s, context %s (nodes reached with %s, context %s)\n",
		       p->kubeconfig, p->kube_context, p->talosconfig, p->context);
		printf("  current client certificate signed by: %s\n", p->current_issuer);
		printf("  new kubeconfig: %s (context %s, server %s) with a system:masters certificate\n"
		       "  (profile kube-admin, 1 year) signed in the token by %s; its key is made on\n"
		       "  this host and written only to that file (mode 0600);\n"
		       "  certificate-authority-data stays the API server's CA\n",
		       p->output, p->kube_context, p->k8s_endpoint, p->new_ca);
		if (p->old_ca[0])
			printf("  revocation probe: a 1-hour kube-user certificate of %s without groups, "
			       "kept in memory only\n", p->old_ca);
		printf("  every check is a SelfSubjectReview on each node's API server over a new "
		       "TLS connection\n");
		return;
	}
	printf("\nCredentials: %s, context %s\n", p->talosconfig, p->context);
	printf("  current client certificate signed by: %s\n", p->current_issuer);
	printf("  re-issued: %s (context %s) with an os:admin certificate (profile talos-admin,\n"
	       "  1 year) signed in the token by %s; its key is made on this host and written\n"
	       "  only to that file (mode 0600); `ca` stays the node issuing CA\n",
	       p->output, p->context, p->new_ca);
	printf("  endpoints:");
	for (i = 0; p->endpoints && p->endpoints[i]; i++)
		printf(" %s", p->endpoints[i]);
	printf("\n");
	if (p->old_ca[0])
		printf("  revocation probe: a 1-hour os:reader certificate of %s, kept in memory only\n",
		       p->old_ca);
}

static void print_plan(const struct hsmca_rot_plan *p, const struct hsmca_rot_preview *pv)
{
	size_t i;
	int s;

	printf("DRY RUN: nothing is changed (not the token, not the nodes, not the files).\n"
	       "Run again with --dry-run=false to rotate.\n\n");
	if (is_kube(p))
		printf("Target: Kubernetes API access CA (cluster.acceptedCAs, or the "
		       "KubeAPIServerCAConfig\ndocument's acceptedCAs, on the control-plane nodes; "
		       "the cluster's own CA is not touched)\n\n");
	else
		printf("Target: Talos API access CA (machine.acceptedCAs; the nodes' own machine CA "
		       "is not touched)\n\n");
	if (pv->old_ca.exists)
		print_ca("Current access CA", &pv->old_ca, NULL);
	else
		printf("Current access CA: none (first adoption: hsmca attaches its first access CA)\n");
	print_ca("New access CA", &pv->new_ca, pv->new_validity);
	print_creds(p);
	printf("\nNodes (%zu; control planes first, then workers; each contacted directly, %u at a "
	       "time):\n", p->n_nodes, p->parallel);
	for (i = 0; i < p->n_nodes; i++) {
		const struct hsmca_rot_node *n = &p->nodes[i];
		const struct hsmca_rot_node_view *v = &pv->nodes[i];

		printf("  %2zu %-12s %-22s role from %s", i, hsmca_rot_role_name(n->role), n->addr,
		       n->role_from);
		if (n->file[0])
			printf(", node file %s", n->file);
		if (n->api[0])
			printf(", API server %s", n->api);
		printf("\n");
		if (v->error[0])
			printf("       UNREACHABLE OR REFUSED: %s\n", v->error);
		else {
			printf("       Talos %s, machine.type %s%s, %zu accepted CA(s)%s\n", v->version,
			       v->live_type, v->role_ok ? "" : " (MISMATCH)", v->n_accepted,
			       p->old_ca[0] ? (v->trusts_old ? ", current access CA listed"
							    : ", current access CA NOT listed")
					    : "");
			if (v->reach[0])
				printf("       reached %s; proofs: %s\n", v->reach,
				       v->direct ? "fresh direct TLS connection"
						 : "config read back (no direct route; the endpoint "
						   "authenticates proxied calls)");
		}
	}
	printf("\nSteps (each journaled before and after; --resume continues, --abort rolls back "
	       "before step 5):\n");
	for (s = 0; s < HSMCA_ROT_NSTEPS; s++) {
		bool skip = !p->old_ca[0] && s >= HSMCA_ROT_DISTRUST_OLD;

		printf("  %d %-14s %s%s\n", s + 1, hsmca_rot_step_name(s), hsmca_rot_step_title(s),
		       skip ? " (skipped: first adoption)" : "");
	}
	printf("\nFiles the real run writes:\n");
	for (i = 0; i < pv->n_files; i++)
		printf("  %s\n", pv->files[i]);
	printf("\nPreflight: %s%s\n", pv->ok ? "OK" : "PROBLEM: ", pv->ok ? "" : pv->problem);
}

static json_object *ca_json(const struct hsmca_rot_ca_view *v)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(v->name));
	json_object_object_add(o, "exists", json_object_new_boolean(v->exists));
	json_object_object_add(o, "subject", json_object_new_string(v->subject));
	json_object_object_add(o, "sha256", json_object_new_string(v->fingerprint));
	json_object_object_add(o, "key_label", json_object_new_string(v->key_label));
	json_object_object_add(o, "key_uri", json_object_new_string(v->key_uri));
	json_object_object_add(o, "key_type", json_object_new_string(v->key_type));
	json_object_object_add(o, "key_present", json_object_new_boolean(v->key_present));
	json_object_object_add(o, "not_before", json_object_new_string(v->not_before));
	json_object_object_add(o, "not_after", json_object_new_string(v->not_after));
	return o;
}

static void print_plan_json(const struct hsmca_rot_plan *p, const struct hsmca_rot_preview *pv)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array(), *f;
	size_t i;

	json_object_object_add(o, "dry_run", json_object_new_boolean(true));
	json_object_object_add(o, "target", json_object_new_string(p->target));
	if (pv->old_ca.exists)
		json_object_object_add(o, "current_ca", ca_json(&pv->old_ca));
	json_object_object_add(o, "new_ca", ca_json(&pv->new_ca));
	json_object_object_add(o, "talosconfig", json_object_new_string(p->talosconfig));
	json_object_object_add(o, "output", json_object_new_string(p->output));
	json_object_object_add(o, "context", json_object_new_string(p->context));
	json_object_object_add(o, "current_issuer", json_object_new_string(p->current_issuer));
	if (is_kube(p)) {
		json_object_object_add(o, "kubeconfig", json_object_new_string(p->kubeconfig));
		json_object_object_add(o, "kube_context", json_object_new_string(p->kube_context));
		json_object_object_add(o, "k8s_endpoint", json_object_new_string(p->k8s_endpoint));
	}
	for (i = 0; i < p->n_nodes; i++) {
		json_object *n = json_object_new_object();
		const struct hsmca_rot_node_view *v = &pv->nodes[i];

		json_object_object_add(n, "addr", json_object_new_string(p->nodes[i].addr));
		json_object_object_add(n, "role",
				       json_object_new_string(hsmca_rot_role_name(p->nodes[i].role)));
		json_object_object_add(n, "file", json_object_new_string(p->nodes[i].file));
		if (p->nodes[i].api[0])
			json_object_object_add(n, "api_server", json_object_new_string(p->nodes[i].api));
		json_object_object_add(n, "reachable", json_object_new_boolean(v->reachable));
		json_object_object_add(n, "version", json_object_new_string(v->version));
		json_object_object_add(n, "machine_type", json_object_new_string(v->live_type));
		json_object_object_add(n, "trusts_current_ca", json_object_new_boolean(v->trusts_old));
		json_object_object_add(n, "reach", json_object_new_string(v->reach));
		json_object_object_add(n, "proof", json_object_new_string(
			v->error[0] ? "" : v->direct ? "direct-tls" : "config-read-back"));
		json_object_object_add(n, "error", json_object_new_string(v->error));
		json_object_array_add(a, n);
	}
	json_object_object_add(o, "nodes", a);
	a = json_object_new_array();
	for (i = 0; i < HSMCA_ROT_NSTEPS; i++)
		json_object_array_add(a, json_object_new_string(hsmca_rot_step_name(i)));
	json_object_object_add(o, "steps", a);
	f = json_object_new_array();
	for (i = 0; i < pv->n_files; i++)
		json_object_array_add(f, json_object_new_string(pv->files[i]));
	json_object_object_add(o, "files", f);
	json_object_object_add(o, "preflight_ok", json_object_new_boolean(pv->ok));
	json_object_object_add(o, "problem", json_object_new_string(pv->problem));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
}

static void on_event(void *arg, const struct hsmca_rot_event *e)
{
	const char *name = e->step == HSMCA_ROT_NSTEPS ? "abort" : hsmca_rot_step_name(e->step);
	char where[32];

	(void)arg;
	if (cli.verbosity < 0)
		return;
	if (e->step == HSMCA_ROT_NSTEPS)
		snprintf(where, sizeof(where), "[abort]");
	else
		snprintf(where, sizeof(where), "[%d/7 %s]", e->step + 1, name ? name : "?");
	switch (e->kind) {
	case HSMCA_ROT_EV_STEP_BEGIN: printf("%s %s\n", where, e->text ? e->text : ""); break;
	case HSMCA_ROT_EV_STEP_END: printf("%s done%s%s\n", where, e->text && *e->text ? ": " : "",
					   e->text ? e->text : ""); break;
	case HSMCA_ROT_EV_STEP_SKIP: printf("%s skipped: %s\n", where, e->text ? e->text : ""); break;
	case HSMCA_ROT_EV_NODE_BEGIN:
		if (cli.verbosity > 0)
			printf("%s %s %s: working\n", where, e->role, e->addr);
		break;
	case HSMCA_ROT_EV_NODE_END:
		printf("%s %zu/%zu %s %s: %s\n", where, e->done, e->total, e->role, e->addr,
		       e->text ? e->text : "");
		break;
	case HSMCA_ROT_EV_NODE_FAIL:
		printf("%s FAILED %s %s: %s\n", where, e->role, e->addr, e->text ? e->text : "");
		break;
	case HSMCA_ROT_EV_NOTE: printf("%s %s\n", where, e->text ? e->text : ""); break;
	}
	fflush(stdout);
}

/* ---- status ---- */

static const char *state_name(enum hsmca_rot_step_state s)
{
	return s == HSMCA_ROT_ST_DONE ? "done" : s == HSMCA_ROT_ST_BEGUN ? "begun" : "pending";
}

static int print_status(const char *home, bool json)
{
	struct hsmca_rot_status st;
	hsmca_error err = { "", 0 };
	int i;

	if (hsmca_rot_status(home, "talos", &st, &err) != 0)
		return cli_fail(&err);
	if (json) {
		json_object *o = json_object_new_object(), *a = json_object_new_array();

		json_object_object_add(o, "active", json_object_new_boolean(st.active));
		json_object_object_add(o, "running", json_object_new_boolean(st.running));
		json_object_object_add(o, "current_ca", json_object_new_string(st.current_ca));
		if (st.active)
			json_object_object_add(o, "target", json_object_new_string(st.plan.target));
		json_object_object_add(o, "last_finished", json_object_new_string(st.last_finished));
		if (st.active) {
			json_object_object_add(o, "id", json_object_new_string(st.plan.id));
			json_object_object_add(o, "old_ca", json_object_new_string(st.plan.old_ca));
			json_object_object_add(o, "new_ca", json_object_new_string(st.plan.new_ca));
			json_object_object_add(o, "aborting", json_object_new_boolean(st.aborting));
			json_object_object_add(o, "last_error", json_object_new_string(st.last_error));
			for (i = 0; i < HSMCA_ROT_NSTEPS; i++) {
				json_object *s = json_object_new_object();

				json_object_object_add(s, "step", json_object_new_string(hsmca_rot_step_name(i)));
				json_object_object_add(s, "state", json_object_new_string(state_name(st.steps[i])));
				json_object_object_add(s, "nodes_done", json_object_new_int64((int64_t)st.nodes_done[i]));
				json_object_array_add(a, s);
			}
		}
		json_object_object_add(o, "steps", a);
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
		hsmca_rot_status_free(&st);
		return CLI_OK;
	}
	printf("current Talos access CA: %s\n", st.current_ca[0] ? st.current_ca : "none");
	{
		struct hsmca_rot_status ks;

		if (hsmca_rot_status(home, "kubernetes", &ks, &err) == 0) {
			printf("current Kubernetes access CA: %s\n",
			       ks.current_ca[0] ? ks.current_ca : "none");
			hsmca_rot_status_free(&ks);
		}
	}
	if (st.last_finished[0])
		printf("last finished rotation: %s\n", st.last_finished);
	if (!st.active) {
		printf("no rotation in progress%s\n", st.running ? " (but a process holds the lock)" : "");
		hsmca_rot_status_free(&st);
		return CLI_OK;
	}
	printf("rotation in progress: %s (%s: %s -> %s), %zu nodes, last journal entry %s%s\n",
	       st.plan.id, st.plan.target, st.plan.old_ca[0] ? st.plan.old_ca : "(first adoption)", st.plan.new_ca,
	       st.plan.n_nodes, st.last_time,
	       st.running ? "" : "; no process is running it");
	if (st.running)
		printf("  running now: pid %ld holds the lock\n", st.lock_pid);
	if (st.aborting)
		printf("  an ABORT is in progress: finish it with 'rotate-ca --abort --dry-run=false'\n");
	for (i = 0; i < HSMCA_ROT_NSTEPS; i++)
		printf("  %d %-14s %-8s %zu/%zu nodes\n", i + 1, hsmca_rot_step_name(i),
		       state_name(st.steps[i]), st.nodes_done[i], st.plan.n_nodes);
	if (st.last_error[0])
		printf("  last error: %s\n", st.last_error);
	if (!st.running && !st.aborting)
		printf("continue with 'hsmca rotate-ca --resume --dry-run=false'%s\n",
		       st.steps[HSMCA_ROT_DISTRUST_OLD] == HSMCA_ROT_ST_PENDING
			       ? ", or roll back with 'hsmca rotate-ca --abort --dry-run=false'" : "");
	hsmca_rot_status_free(&st);
	return CLI_OK;
}

int cmd_rotate(int argc, char **argv)
{
	char home[4096];
	hsmca_error err = { "", 0 };

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_print_synopsis(stdout, "rotate");
		return CLI_OK;
	}
	if (argc != 2 || strcmp(argv[1], "status") != 0)
		return cli_usage("rotate", "rotate: expected 'status'");
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0)
		return cli_fail(&err);
	return print_status(home, cli.json);
}

/* ---- rotate-ca ---- */

struct rc_args {
	bool talos, kubernetes, dry_run, resume, abort, help;
	struct hsmca_rot_options o;
	const char *kube_output;
};

static int parse_args(int argc, char **argv, struct rc_args *a)
{
	enum { O_TALOS = 256, O_KUBE, O_DRY, O_CP, O_WK, O_TC, O_CTX, O_KT, O_RESUME, O_ABORT,
	       O_PAR, O_INIT, O_KC, O_KCTX, O_KEP, O_KNEP, O_KOUT };
	static const struct option opts[] = {
		{ "talos", optional_argument, NULL, O_TALOS },
		{ "kubernetes", optional_argument, NULL, O_KUBE },
		{ "dry-run", optional_argument, NULL, O_DRY },
		{ "nodes", required_argument, NULL, 'n' },
		{ "endpoints", required_argument, NULL, 'e' },
		{ "control-plane-nodes", required_argument, NULL, O_CP },
		{ "worker-nodes", required_argument, NULL, O_WK },
		{ "init-node", required_argument, NULL, O_INIT },
		{ "talosconfig", required_argument, NULL, O_TC },
		{ "context", required_argument, NULL, O_CTX },
		{ "key-type", required_argument, NULL, O_KT },
		{ "output", required_argument, NULL, 'o' },
		{ "file", required_argument, NULL, 'f' },
		{ "parallel", required_argument, NULL, O_PAR },
		{ "kubeconfig", required_argument, NULL, O_KC },
		{ "kube-context", required_argument, NULL, O_KCTX },
		{ "k8s-endpoint", required_argument, NULL, O_KEP },
		{ "k8s-node-endpoints", required_argument, NULL, O_KNEP },
		{ "kubeconfig-output", required_argument, NULL, O_KOUT },
		{ "resume", no_argument, NULL, O_RESUME },
		{ "abort", no_argument, NULL, O_ABORT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hn:e:o:f:", opts, NULL)) != -1) {
		rc = 0;
		switch (c) {
		case O_TALOS: rc = parse_bool("talos", optarg, &a->talos); break;
		case O_KUBE: rc = parse_bool("kubernetes", optarg, &a->kubernetes); break;
		case O_DRY: rc = parse_bool("dry-run", optarg, &a->dry_run); break;
		case 'n': rc = add_list(&a->o.nodes, optarg, "nodes"); break;
		case 'e': rc = add_list(&a->o.endpoints, optarg, "endpoints"); break;
		case O_CP:
		case O_INIT: rc = add_list(&a->o.cp_nodes, optarg, "control-plane-nodes"); break;
		case O_WK: rc = add_list(&a->o.worker_nodes, optarg, "worker-nodes"); break;
		case O_TC: a->o.talosconfig = optarg; break;
		case O_CTX: a->o.context = optarg; break;
		case O_KT: a->o.key_type = optarg; break;
		case 'o': a->o.output = optarg; break;
		case 'f': cli.node_file = optarg; break;
		case O_KC: a->o.kubeconfig = optarg; break;
		case O_KCTX: a->o.kube_context = optarg; break;
		case O_KEP: a->o.k8s_endpoint = optarg; break;
		case O_KNEP: rc = add_list(&a->o.k8s_apis, optarg, "k8s-node-endpoints"); break;
		case O_KOUT: a->kube_output = optarg; break;
		case O_PAR: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || v == 0 || v > 32)
				return cli_usage("rotate-ca", "rotate-ca: --parallel takes 1 to 32");
			a->o.parallel = (unsigned)v;
			break;
		}
		case O_RESUME: a->resume = true; break;
		case O_ABORT: a->abort = true; break;
		case 'h':
			cli_print_synopsis(stdout, "rotate-ca");
			puts("\nRotates the access CAs that hsmca keeps in the token. --talos (default true):\n"
			     "the Talos API access CA, accepted by every node in machine.acceptedCAs, which\n"
			     "signs the talosconfig. --kubernetes (default false, unlike talosctl: it needs a\n"
			     "kubeconfig): the Kubernetes API access CA, accepted by the control planes in\n"
			     "cluster.acceptedCAs (or the KubeAPIServerCAConfig document), which signs a\n"
			     "system:masters kubeconfig; each node's API server is checked with a\n"
			     "SelfSubjectReview. With both, Talos goes first. Seven journaled steps each:\n"
			     "prepare, trust-new, issue, verify-new, distrust-old, prove-revoked, retire\n"
			     "(docs/rotation.md). --dry-run defaults to true and changes nothing: it prints\n"
			     "the plan and checks every node. --resume continues after a crash; --abort\n"
			     "rolls back before step 5. Both need --dry-run=false to act. Nodes come from\n"
			     "the talm project of -f (every nodes/*.yaml) or --control-plane-nodes/\n"
			     "--worker-nodes. Kubernetes: --kubeconfig (default: the talm project's, then\n"
			     "$KUBECONFIG) gives the API server's CA and server; --k8s-endpoint the server\n"
			     "of the new kubeconfig; --k8s-node-endpoints one API server URL per control\n"
			     "plane (default https://<node>:6443); --kubeconfig-output where the new\n"
			     "kubeconfig goes (default: --kubeconfig, replaced).\n"
			     "Environment: HSMCA_TALOS_DEADLINE (per call, default 30s), HSMCA_ROTATE_SETTLE\n"
			     "(seconds a node may take to act on a trust change: default 30 for Talos,\n"
			     "180 for Kubernetes, where Talos restarts kube-apiserver).");
			a->help = true;
			return CLI_OK;
		default:
			return cli_usage("rotate-ca", "rotate-ca: unknown or incomplete option '%s'",
					 argv[optind - 1]);
		}
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return cli_usage("rotate-ca", "rotate-ca: unexpected argument '%s'", argv[optind]);
	return 0;
}

static int run_dry(struct rc_args *a, const struct hsmca_rot_options *o, const char *home)
{
	struct hsmca_rot_plan plan;
	struct hsmca_rot_preview pv;
	struct hsmca_rot_status st;
	struct hsmca_session *s = NULL;
	hsmca_error err = { "", 0 };
	int ret = CLI_FAIL;

	if (a->resume || a->abort) {
		if (hsmca_rot_status(home, "talos", &st, &err) != 0)
			return cli_fail(&err);
		if (!st.active) {
			hsmca_rot_status_free(&st);
			return cli_failf("rotate-ca: no rotation in progress to %s",
					 a->resume ? "resume" : "abort");
		}
		printf("DRY RUN: nothing is changed. With --dry-run=false, rotate-ca --%s would %s "
		       "rotation %s:\n", a->resume ? "resume" : "abort",
		       a->resume ? "continue" : "roll back", st.plan.id);
		hsmca_rot_status_free(&st);
		return print_status(home, false);
	}
	if (hsmca_rot_status(home, "talos", &st, &err) != 0)
		return cli_fail(&err);
	if (st.active) {
		cli_failf("rotate-ca: rotation %s is in progress; a new one cannot start (see 'hsmca "
			  "rotate status'; --resume or --abort it)", st.plan.id);
		hsmca_rot_status_free(&st);
		return CLI_FAIL;
	}
	hsmca_rot_status_free(&st);
	if (hsmca_rot_plan_build(o, &plan, &err) != 0)
		return cli_failf("rotate-ca: %s: %s", o->target, err.msg);
	if (cli_open(&s, true) != 0)
		goto out_plan;
	if (hsmca_rot_preview(s, &plan, &pv, &err) != 0) {
		cli_failf("rotate-ca: dry run: %s", err.msg);
		goto out;
	}
	if (cli.json)
		print_plan_json(&plan, &pv);
	else
		print_plan(&plan, &pv);
	ret = pv.ok ? CLI_OK : CLI_FAIL;
	if (!pv.ok)
		cli_failf("rotate-ca: dry run found a problem: %s", pv.problem);
	hsmca_rot_preview_free(&pv);
out:
	cli_close(s);
out_plan:
	hsmca_rot_plan_free(&plan);
	return ret;
}

static int run_real(struct rc_args *a, const struct hsmca_rot_options *o, const char *home,
		    char *resumed_target, size_t rtlen)
{
	struct hsmca_rot_events ev = { on_event, NULL };
	struct hsmca_rot_plan plan;
	struct hsmca_rot_preview pv;
	struct hsmca_session *s = NULL;
	hsmca_rot *r = NULL;
	hsmca_error err = { "", 0 };
	bool have_plan = false;
	int ret = CLI_FAIL;

	memset(&pv, 0, sizeof(pv));
	if (!a->resume && !a->abort) {
		struct hsmca_rot_status st;

		/* Cheap checks first; hsmca_rot_begin checks both again under the lock. */
		if (hsmca_rot_status(home, "talos", &st, &err) != 0)
			return cli_fail(&err);
		if (st.running || st.active) {
			cli_failf("rotate-ca: %s", st.running
				  ? "another rotation is running (see 'hsmca rotate status')"
				  : "a rotation is already in progress (see 'hsmca rotate status'): continue "
				    "it with 'rotate-ca --resume --dry-run=false' or roll it back with "
				    "'rotate-ca --abort --dry-run=false'");
			hsmca_rot_status_free(&st);
			return CLI_FAIL;
		}
		hsmca_rot_status_free(&st);
		if (hsmca_rot_plan_build(o, &plan, &err) != 0)
			return cli_failf("rotate-ca: %s: %s", o->target, err.msg);
		have_plan = true;
	}
	if (cli_open(&s, true) != 0)
		goto out;
	if (a->abort) {
		struct hsmca_rot_abort_report rep;
		size_t i;

		memset(&rep, 0, sizeof(rep));
		if (hsmca_rot_open(home, &r, &err) != 0) {
			cli_failf("rotate-ca: abort: %s", err.msg);
			goto out;
		}
		if (hsmca_rot_abort(r, s, &ev, &rep, &err) != 0) {
			for (i = 0; i < rep.n; i++)
				printf("[abort] did: %s\n", rep.lines[i]);
			cli_failf("rotate-ca: abort of %s: %s", hsmca_rot_get_plan(r)->id, err.msg);
			goto out;
		}
		printf("rotation %s aborted:\n", hsmca_rot_get_plan(r)->id);
		for (i = 0; i < rep.n; i++)
			printf("  - %s\n", rep.lines[i]);
		ret = CLI_OK;
		goto out;
	}
	if (a->resume) {
		if (hsmca_rot_open(home, &r, &err) != 0) {
			cli_failf("rotate-ca: resume: %s", err.msg);
			goto out;
		}
		printf("resuming rotation %s (%s)\n", hsmca_rot_get_plan(r)->id,
		       hsmca_rot_get_plan(r)->target);
		snprintf(resumed_target, rtlen, "%s", hsmca_rot_get_plan(r)->target);
	} else {
		/* Preflight, read-only: do not start what cannot finish. */
		if (hsmca_rot_preview(s, &plan, &pv, &err) != 0) {
			cli_failf("rotate-ca: preflight: %s", err.msg);
			goto out;
		}
		if (!pv.ok) {
			cli_failf("rotate-ca: preflight: %s (nothing was changed)", pv.problem);
			goto out;
		}
		if (hsmca_rot_begin(home, &plan, &r, &err) != 0) {
			cli_failf("rotate-ca: %s", err.msg);
			goto out;
		}
		printf("rotation %s (%s): %s -> %s, %zu nodes\n", plan.id, plan.target,
		       plan.old_ca[0] ? plan.old_ca : "(first adoption)", plan.new_ca, plan.n_nodes);
	}
	fflush(stdout);
	if (hsmca_rot_run(r, s, &ev, &err) != 0) {
		cli_failf("rotate-ca: %s", err.msg);
		cli_failf("rotate-ca: rotation %s stopped; nothing unsafe was left behind. Fix the cause, "
			  "then 'hsmca rotate-ca --resume --dry-run=false' (or --abort before step 5); "
			  "'hsmca rotate status' shows where it is", hsmca_rot_get_plan(r)->id);
		goto out;
	}
	printf("rotation %s complete: %s is the %s access CA; credentials in %s\n",
	       hsmca_rot_get_plan(r)->id, hsmca_rot_get_plan(r)->new_ca,
	       strcmp(hsmca_rot_get_plan(r)->target, "kubernetes") == 0 ? "Kubernetes" : "Talos",
	       hsmca_rot_get_plan(r)->output);
	/* The rotation is done either way; a failed checkpoint is reported only. */
	(void)cli_checkpoint(s);
	ret = CLI_OK;
out:
	hsmca_rot_preview_free(&pv);
	hsmca_rot_close(r);
	cli_close(s);
	if (have_plan)
		hsmca_rot_plan_free(&plan);
	return ret;
}

/* Talos first, then Kubernetes; a resumed rotation first finishes what
 * the journal holds. */
static int run(struct rc_args *a, const char *home)
{
	struct hsmca_rot_options ko = a->o;
	char resumed[16] = "";
	int rc = CLI_OK;

	ko.target = "kubernetes";
	ko.output = a->kube_output;
	if (a->dry_run) {
		if (a->resume || a->abort)
			return run_dry(a, &a->o, home);
		if (a->talos)
			rc = run_dry(a, &a->o, home);
		if (a->kubernetes && rc == CLI_OK) {
			if (a->talos)
				printf("\n");
			rc = run_dry(a, &ko, home);
		}
		return rc;
	}
	if (a->resume || a->abort) {
		rc = run_real(a, &a->o, home, resumed, sizeof(resumed));
		/* --resume with both: the Talos part done, start the Kubernetes one. */
		if (rc != CLI_OK || a->abort || !a->talos || !a->kubernetes ||
		    strcmp(resumed, "talos") != 0)
			return rc;
		a->resume = false;
		printf("\n");
		return run_real(a, &ko, home, resumed, sizeof(resumed));
	}
	if (a->talos)
		rc = run_real(a, &a->o, home, resumed, sizeof(resumed));
	if (a->kubernetes && rc == CLI_OK) {
		if (a->talos)
			printf("\n");
		rc = run_real(a, &ko, home, resumed, sizeof(resumed));
	}
	return rc;
}

int cmd_rotate_ca(int argc, char **argv)
{
	struct rc_args a;
	char home[4096];
	hsmca_error err = { "", 0 };
	int rc;

	memset(&a, 0, sizeof(a));
	a.talos = true;
	a.kubernetes = false;
	a.dry_run = true;
	rc = parse_args(argc, argv, &a);
	if (rc != 0 || a.help)
		goto out;
	rc = CLI_USAGE;
	if (!a.talos && !a.kubernetes) {
		cli_usage("rotate-ca", "rotate-ca: nothing to rotate (--talos=false and "
				       "--kubernetes=false)");
		goto out;
	}
	if (!a.kubernetes && (a.o.kubeconfig || a.o.kube_context || a.o.k8s_endpoint ||
			      a.o.k8s_apis || a.kube_output)) {
		cli_usage("rotate-ca", "rotate-ca: --kubeconfig, --kube-context, --k8s-endpoint, "
				       "--k8s-node-endpoints and --kubeconfig-output need "
				       "--kubernetes=true");
		goto out;
	}
	if (a.resume && a.abort) {
		cli_usage("rotate-ca", "rotate-ca: --resume and --abort exclude each other");
		goto out;
	}
	if ((a.resume || a.abort) &&
	    (a.o.nodes || a.o.endpoints || a.o.cp_nodes || a.o.worker_nodes || a.o.talosconfig ||
	     a.o.output || a.o.key_type || a.o.context || a.o.kubeconfig || a.o.kube_context ||
	     a.o.k8s_endpoint || a.o.k8s_apis || a.kube_output)) {
		cli_usage("rotate-ca", "rotate-ca: --resume and --abort take the plan from the journal; "
				       "drop the node, credential and key options");
		goto out;
	}
	if (hsmca_home_resolve(cli.home, home, sizeof(home), &err) != 0) {
		rc = cli_fail(&err);
		goto out;
	}
	a.o.home = home;
	a.o.target = "talos";
	a.o.node_file = cli.node_file;
	rc = run(&a, home);
out:
	list_free(a.o.nodes);
	list_free(a.o.endpoints);
	list_free(a.o.cp_nodes);
	list_free(a.o.worker_nodes);
	list_free(a.o.k8s_apis);
	return rc;
}
