/* kubeconfig parsing: select one context and resolve its cluster and user. */
#include "kube/kubeconfig.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "kube/kube_internal.h"

#define KUBE_FILE_MAX (1u << 20)     /* CA bundle, cert, key, token files */
#define KUBE_EXEC_TIMEOUT_MS 30000

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Find the entry named `name` in a sequence of {name, <field>: {...}} and
 * return its <field> mapping. */
static int find_named(const struct kyaml *root, const char *list, const char *field,
		      const char *name, const char *src, const struct kyaml **out,
		      hsmca_error *err)
{
	const struct kyaml *seq = kyaml_get(root, list);

	if (seq && seq->kind != KYAML_SEQ)
		return hsmca_error_set(err, "%s:%u: %s must be a list", src, seq->line, list);
	for (size_t i = 0; seq && i < seq->n; i++) {
		const struct kyaml *e = seq->items[i];
		const char *n = kyaml_str(kyaml_get(e, "name"));
		const struct kyaml *body;

		if (!n || strcmp(n, name) != 0)
			continue;
		body = kyaml_get(e, field);
		if (body && body->kind != KYAML_MAP)
			return hsmca_error_set(err, "%s:%u: %s \"%s\": %s must be a mapping", src,
					       body->line, field, name, field);
		*out = body; /* may be NULL: an entry with no body */
		return 0;
	}
	return hsmca_error_set(err, "%s: %s \"%s\" not found", src, field, name);
}

static bool yaml_false(const char *v)
{
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
					  "off", "Off", "OFF" };

	if (!v)
		return true;
	for (size_t i = 0; i < HSMCA_ARRAY_LEN(no); i++)
		if (strcmp(v, no[i]) == 0)
			return true;
	return false;
}

static int resolve_path(const hsmca_kubeconfig *kc, const char *p, const char *src, char *out,
			size_t outlen, hsmca_error *err)
{
	if (p[0] == '/')
		return hsmca_path_join(out, outlen, err, "%s", p);
	if (!kc->dir)
		return hsmca_error_set(err, "%s: relative path \"%s\" but no base directory", src,
				       p);
	return hsmca_path_join(out, outlen, err, "%s/%s", kc->dir, p);
}

/* Read a referenced file (CA, certificate, key, token). */
static int read_ref(const hsmca_kubeconfig *kc, const char *p, const char *what,
		    const char *src, uint8_t **out, size_t *len, hsmca_error *err)
{
	char path[PATH_MAX];

	if (resolve_path(kc, p, src, path, sizeof(path), err) < 0)
		return -1;
	if (hsmca_read_file(path, KUBE_FILE_MAX, out, len, err) < 0)
		return hsmca_error_prefix(err, "%s: read %s", src, what);
	return 0;
}

/* Inline base64 (`data_key`) or a file (`file_key`), never both. */
static int data_or_file(const hsmca_kubeconfig *kc, const struct kyaml *m, const char *data_key,
			const char *file_key, const char *src, uint8_t **out, size_t *len,
			hsmca_error *err)
{
	const char *data = kyaml_str(kyaml_get(m, data_key));
	const char *file = kyaml_str(kyaml_get(m, file_key));

	*out = NULL;
	*len = 0;
	if (data && file)
		return hsmca_error_set(err, "%s: both %s and %s are set; give one", src, data_key,
				       file_key);
	if (data) {
		if (hsmca_b64_decode(data, strlen(data), data_key, out, len, err) < 0)
			return hsmca_error_prefix(err, "%s", src);
		return 0;
	}
	if (file)
		return read_ref(kc, file, file_key, src, out, len, err);
	return 0;
}

static int parse_cluster(hsmca_kubeconfig *kc, const struct kyaml *c, const char *src,
			 hsmca_error *err)
{
	const char *server = kyaml_str(kyaml_get(c, "server"));
	const char *v;
	size_t n;

	if (!server || !*server)
		return hsmca_error_set(err, "%s: cluster \"%s\" has no server", src,
				       kc->cluster_name);
	if (strncmp(server, "https://", 8) != 0)
		return hsmca_error_set(err, "%s: cluster \"%s\": server %s is not https:// "
				       "(hsmca always uses verified TLS)", src, kc->cluster_name,
				       server);
	if (!yaml_false(kyaml_str(kyaml_get(c, "insecure-skip-tls-verify"))))
		return hsmca_error_set(err, "%s: cluster \"%s\" sets insecure-skip-tls-verify; "
				       "hsmca always verifies the API server's certificate: remove "
				       "it and give certificate-authority-data", src,
				       kc->cluster_name);
	if ((v = kyaml_str(kyaml_get(c, "proxy-url"))))
		return hsmca_error_set(err, "%s: cluster \"%s\": proxy-url is not supported", src,
				       kc->cluster_name);
	kc->server = strdup(server);
	if (!kc->server)
		return hsmca_error_set(err, "%s: out of memory", src);
	n = strlen(kc->server);
	while (n > 8 && kc->server[n - 1] == '/')
		kc->server[--n] = '\0';
	if ((v = kyaml_str(kyaml_get(c, "tls-server-name"))) && *v) {
		kc->tls_server_name = strdup(v);
		if (!kc->tls_server_name)
			return hsmca_error_set(err, "%s: out of memory", src);
	}
	return data_or_file(kc, c, "certificate-authority-data", "certificate-authority", src,
			    &kc->ca_pem, &kc->ca_len, err);
}

static int parse_exec(hsmca_kubeconfig *kc, const struct kyaml *e, const char *src,
		      hsmca_error *err)
{
	const struct kyaml *args = kyaml_get(e, "args");
	const struct kyaml *env = kyaml_get(e, "env");
	const char *cmd = kyaml_str(kyaml_get(e, "command"));
	const char *api = kyaml_str(kyaml_get(e, "apiVersion"));
	const char *mode = kyaml_str(kyaml_get(e, "interactiveMode"));
	struct kube_exec *ex;
	size_t nargs = args && args->kind == KYAML_SEQ ? args->n : 0;
	size_t nenv = env && env->kind == KYAML_SEQ ? env->n : 0;
	char path[PATH_MAX];

	if (e->kind != KYAML_MAP)
		return hsmca_error_set(err, "%s:%u: exec must be a mapping", src, e->line);
	if (!cmd || !*cmd)
		return hsmca_error_set(err, "%s:%u: exec has no command", src, e->line);
	if (!api || (strcmp(api, "client.authentication.k8s.io/v1") != 0 &&
		     strcmp(api, "client.authentication.k8s.io/v1beta1") != 0))
		return hsmca_error_set(err, "%s:%u: exec apiVersion must be "
				       "client.authentication.k8s.io/v1 or v1beta1", src, e->line);
	if ((args && args->kind != KYAML_SEQ) || (env && env->kind != KYAML_SEQ))
		return hsmca_error_set(err, "%s:%u: exec args and env must be lists", src,
				       e->line);
	ex = calloc(1, sizeof(*ex));
	if (!ex)
		return hsmca_error_set(err, "%s: out of memory", src);
	kc->exec = ex;
	ex->api_version = strdup(api);
	ex->command = strdup(cmd);
	ex->argv = calloc(nargs + 2, sizeof(char *));
	ex->env = calloc(nenv + 1, sizeof(char *));
	if (!ex->api_version || !ex->command || !ex->argv || !ex->env)
		return hsmca_error_set(err, "%s: out of memory", src);
	if (strchr(cmd, '/')) {
		if (resolve_path(kc, cmd, src, path, sizeof(path), err) < 0)
			return -1;
		if (!(ex->path = strdup(path)))
			return hsmca_error_set(err, "%s: out of memory", src);
	}
	ex->argv[0] = strdup(cmd);
	if (!ex->argv[0])
		return hsmca_error_set(err, "%s: out of memory", src);
	for (size_t i = 0; i < nargs; i++) {
		const char *a = kyaml_str(args->items[i]);

		if (!a)
			a = "";
		if (!(ex->argv[i + 1] = strdup(a)))
			return hsmca_error_set(err, "%s: out of memory", src);
	}
	for (size_t i = 0; i < nenv; i++) {
		const char *name = kyaml_str(kyaml_get(env->items[i], "name"));
		const char *value = kyaml_str(kyaml_get(env->items[i], "value"));

		if (!name || !*name || strchr(name, '='))
			return hsmca_error_set(err, "%s:%u: exec env entry needs a name", src,
					       env->items[i]->line);
		if (asprintf(&ex->env[i], "%s=%s", name, value ? value : "") < 0) {
			ex->env[i] = NULL;
			return hsmca_error_set(err, "%s: out of memory", src);
		}
	}
	ex->provide_cluster_info = !yaml_false(kyaml_str(kyaml_get(e, "provideClusterInfo")));
	ex->interactive_always = mode && strcmp(mode, "Always") == 0;
	if (ex->interactive_always)
		return hsmca_error_set(err, "%s: exec plugin %s needs interactiveMode Always; "
				       "hsmca runs plugins without a terminal", src, cmd);
	return 0;
}

static int parse_user(hsmca_kubeconfig *kc, const struct kyaml *u, const char *src,
		      hsmca_error *err)
{
	static const char *const refused[] = { "auth-provider", "username", "password", "as",
					       "as-groups", "as-uid", "as-user-extra" };
	const struct kyaml *exec;
	const char *tok, *tokfile;

	if (!u)
		return 0;
	for (size_t i = 0; i < HSMCA_ARRAY_LEN(refused); i++)
		if (kyaml_get(u, refused[i]))
			return hsmca_error_set(err, "%s: user \"%s\": %s is not supported", src,
					       kc->user_name, refused[i]);
	if (data_or_file(kc, u, "client-certificate-data", "client-certificate", src,
			 &kc->cert_pem, &kc->cert_len, err) < 0 ||
	    data_or_file(kc, u, "client-key-data", "client-key", src, &kc->key_pem,
			 &kc->key_len, err) < 0)
		return -1;
	if (!kc->cert_pem != !kc->key_pem)
		return hsmca_error_set(err, "%s: user \"%s\" has a client %s without its %s", src,
				       kc->user_name, kc->cert_pem ? "certificate" : "key",
				       kc->cert_pem ? "key" : "certificate");
	tok = kyaml_str(kyaml_get(u, "token"));
	tokfile = kyaml_str(kyaml_get(u, "tokenFile"));
	if (tok) {
		if (!(kc->token = strdup(tok)))
			return hsmca_error_set(err, "%s: out of memory", src);
	} else if (tokfile) {
		uint8_t *buf = NULL;
		size_t len = 0, a = 0;

		if (read_ref(kc, tokfile, "tokenFile", src, &buf, &len, err) < 0)
			return -1;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
				   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
			len--;
		while (a < len && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\n'))
			a++;
		kc->token = strndup((char *)buf + a, len - a);
		kube_free_secret(buf, len);
		if (!kc->token)
			return hsmca_error_set(err, "%s: out of memory", src);
		if (!kc->token[0] || strchr(kc->token, '\n'))
			return hsmca_error_set(err, "%s: tokenFile %s does not hold one token", src,
					       tokfile);
	}
	exec = kyaml_get(u, "exec");
	if (exec && kyaml_str(exec) == NULL && exec->kind == KYAML_SCALAR)
		exec = NULL; /* exec: null */
	if (exec) {
		if (kc->token || kc->cert_pem)
			return hsmca_error_set(err, "%s: user \"%s\" has both exec and a static "
					       "credential; give one", src, kc->user_name);
		return parse_exec(kc, exec, src, err);
	}
	return 0;
}

static int resolve(hsmca_kubeconfig *kc, const struct kyaml *root, const char *src,
		   const hsmca_kubeconfig_options *opt, hsmca_error *err)
{
	const struct kyaml *ctx = NULL, *cluster = NULL, *user = NULL;
	const char *name = opt && opt->context ? opt->context
					       : kyaml_str(kyaml_get(root, "current-context"));
	const char *v;

	if (root->kind != KYAML_MAP)
		return hsmca_error_set(err, "%s: not a kubeconfig (expected a mapping)", src);
	if (!name || !*name)
		return hsmca_error_set(err, "%s: no current-context and no context was given",
				       src);
	if (find_named(root, "contexts", "context", name, src, &ctx, err) < 0)
		return -1;
	kc->context = strdup(name);
	v = kyaml_str(kyaml_get(ctx, "cluster"));
	if (!v)
		return hsmca_error_set(err, "%s: context \"%s\" names no cluster", src, name);
	kc->cluster_name = strdup(v);
	v = kyaml_str(kyaml_get(ctx, "user"));
	kc->user_name = strdup(v ? v : "");
	v = kyaml_str(kyaml_get(ctx, "namespace"));
	kc->namespace = xstrdup(v);
	if (!kc->context || !kc->cluster_name || !kc->user_name || (v && !kc->namespace))
		return hsmca_error_set(err, "%s: out of memory", src);
	if (find_named(root, "clusters", "cluster", kc->cluster_name, src, &cluster, err) < 0)
		return -1;
	if (!cluster)
		return hsmca_error_set(err, "%s: cluster \"%s\" is empty", src, kc->cluster_name);
	if (parse_cluster(kc, cluster, src, err) < 0)
		return -1;
	if (kc->user_name[0] &&
	    find_named(root, "users", "user", kc->user_name, src, &user, err) < 0)
		return -1;
	if (parse_user(kc, user, src, err) < 0)
		return -1;
	if (kc->exec && opt && opt->no_exec)
		return hsmca_error_set(err, "%s: user \"%s\" needs exec plugin %s, which was not "
				       "allowed here", src, kc->user_name, kc->exec->command);
	return 0;
}

int hsmca_kubeconfig_parse(const void *buf, size_t len, const char *name, const char *base_dir,
			   const hsmca_kubeconfig_options *opt, hsmca_kubeconfig **out,
			   hsmca_error *err)
{
	const char *src = name ? name : "kubeconfig";
	struct kyaml *root = NULL;
	hsmca_kubeconfig *kc;
	int ret = -1;

	kc = calloc(1, sizeof(*kc));
	if (!kc)
		return hsmca_error_set(err, "%s: out of memory", src);
	kc->exec_timeout_ms = opt && opt->exec_timeout_ms > 0 ? opt->exec_timeout_ms
							      : KUBE_EXEC_TIMEOUT_MS;
	if (base_dir && !(kc->dir = strdup(base_dir))) {
		hsmca_error_set(err, "%s: out of memory", src);
		goto out;
	}
	if (kyaml_load(buf, len, src, &root, err) < 0)
		goto out;
	if (resolve(kc, root, src, opt, err) < 0)
		goto out;
	if (kc->exec && !(opt && opt->defer_exec) && hsmca_kubeconfig_refresh(kc, err) < 0)
		goto out;
	*out = kc;
	kc = NULL;
	ret = 0;
out:
	kyaml_free(root);
	hsmca_kubeconfig_free(kc);
	return ret;
}

int hsmca_kubeconfig_load(const char *path, const hsmca_kubeconfig_options *opt,
			  hsmca_kubeconfig **out, hsmca_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char dir[PATH_MAX];
	int ret;

	if (hsmca_path_join(dir, sizeof(dir), err, "%s", path) < 0)
		return -1;
	if (hsmca_read_file(path, HSMCA_KUBECONFIG_MAX, &buf, &len, err) < 0)
		return hsmca_error_prefix(err, "read kubeconfig");
	ret = hsmca_kubeconfig_parse(buf, len, path, dirname(dir), opt, out, err);
	kube_free_secret(buf, len);
	return ret;
}

int hsmca_kubeconfig_refresh(hsmca_kubeconfig *kc, hsmca_error *err)
{
	struct kube_exec_result res = { 0 };
	struct kube_exec_cluster cl;

	if (!kc->exec)
		return 0;
	cl.server = kc->server;
	cl.tls_server_name = kc->tls_server_name;
	cl.ca_pem = kc->ca_pem;
	cl.ca_len = kc->ca_len;
	if (kube_exec_run(kc->exec, &cl, kc->exec_timeout_ms, &res, err) < 0)
		return hsmca_error_prefix(err, "user \"%s\"", kc->user_name);
	kube_free_secret_str(kc->token);
	kube_free_secret(kc->key_pem, kc->key_len);
	free(kc->cert_pem);
	kc->token = res.token;
	kc->cert_pem = res.cert_pem;
	kc->cert_len = res.cert_len;
	kc->key_pem = res.key_pem;
	kc->key_len = res.key_len;
	kc->expiry = res.expiry;
	return 0;
}

bool hsmca_kubeconfig_expiring(const hsmca_kubeconfig *kc, time_t now, time_t margin)
{
	return kc && kc->exec && kc->expiry != 0 && kc->expiry - margin <= now;
}

void hsmca_kubeconfig_free(hsmca_kubeconfig *kc)
{
	if (!kc)
		return;
	free(kc->context);
	free(kc->cluster_name);
	free(kc->user_name);
	free(kc->namespace);
	free(kc->server);
	free(kc->tls_server_name);
	free(kc->ca_pem);
	free(kc->cert_pem);
	kube_free_secret(kc->key_pem, kc->key_len);
	kube_free_secret_str(kc->token);
	kube_exec_free(kc->exec);
	free(kc->dir);
	free(kc);
}
