/* exec credential plugins (client.authentication.k8s.io ExecCredential).
 *
 * The plugin is spawned directly (posix_spawn, no shell) with stdin on
 * /dev/null, KUBERNETES_EXEC_INFO in its environment, stdout read up to
 * KUBE_EXEC_OUT_MAX bytes and stderr kept up to KUBE_EXEC_ERR_MAX bytes for
 * the error message.  It is killed (by its PID) when the time limit passes. */
#include "kube/kube_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/util.h"

#define KUBE_EXEC_OUT_MAX (1u << 20)
#define KUBE_EXEC_ERR_MAX 4096

extern char **environ;

void kube_exec_free(struct kube_exec *ex)
{
	if (!ex)
		return;
	free(ex->api_version);
	free(ex->command);
	free(ex->path);
	for (size_t i = 0; ex->argv && ex->argv[i]; i++)
		free(ex->argv[i]);
	free(ex->argv);
	/* env values may be secrets (some plugins take a password this way) */
	for (size_t i = 0; ex->env && ex->env[i]; i++)
		kube_free_secret_str(ex->env[i]);
	free(ex->env);
	free(ex);
}

void kube_exec_result_clear(struct kube_exec_result *res)
{
	kube_free_secret_str(res->token);
	free(res->cert_pem);
	kube_free_secret(res->key_pem, res->key_len);
	memset(res, 0, sizeof(*res));
}

/* KUBERNETES_EXEC_INFO=<ExecCredential with spec>. */
static char *exec_info(const struct kube_exec *ex, const struct kube_exec_cluster *cl)
{
	json_object *o = json_object_new_object(), *spec = json_object_new_object();
	char *b64 = NULL, *s = NULL;

	if (!o || !spec)
		goto out;
	json_object_object_add(o, "apiVersion", json_object_new_string(ex->api_version));
	json_object_object_add(o, "kind", json_object_new_string("ExecCredential"));
	json_object_object_add(spec, "interactive", json_object_new_boolean(0));
	if (ex->provide_cluster_info && cl) {
		json_object *c = json_object_new_object();

		if (!c)
			goto out;
		json_object_object_add(c, "server", json_object_new_string(cl->server));
		if (cl->tls_server_name)
			json_object_object_add(c, "tls-server-name",
					       json_object_new_string(cl->tls_server_name));
		if (cl->ca_pem) {
			if (hsmca_b64_encode(cl->ca_pem, cl->ca_len, &b64, NULL) < 0)
				goto out;
			json_object_object_add(c, "certificate-authority-data",
					       json_object_new_string(b64));
		}
		json_object_object_add(spec, "cluster", c);
	}
	json_object_object_add(o, "spec", spec);
	spec = NULL;
	if (asprintf(&s, "KUBERNETES_EXEC_INFO=%s",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		s = NULL;
out:
	free(b64);
	json_object_put(spec);
	json_object_put(o);
	return s;
}

/* environ + the kubeconfig's env entries + KUBERNETES_EXEC_INFO (later
 * entries win: existing names are dropped). */
static char **build_env(const struct kube_exec *ex, char *info)
{
	size_t n = 0, m = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	while (ex->env[m])
		m++;
	env = calloc(n + m + 2, sizeof(char *));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t nl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		bool overridden = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;

		for (size_t j = 0; j < m && !overridden; j++)
			overridden = strncmp(ex->env[j], environ[i], nl) == 0 &&
				     ex->env[j][nl] == '=';
		if (!overridden)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		env[k++] = ex->env[j];
	env[k] = info;
	return env;
}

struct sink {
	char *buf;
	size_t len, cap, max;
	bool overflow;
};

static int sink_read(int fd, struct sink *s)
{
	char tmp[4096];
	ssize_t r = read(fd, tmp, sizeof(tmp));

	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (r == 0)
		return 0;
	if (s->len + (size_t)r > s->max) {
		s->overflow = true;
		r = (ssize_t)(s->max - s->len);
	}
	if (s->len + (size_t)r + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 8192;
		char *nb;

		while (cap < s->len + (size_t)r + 1)
			cap *= 2;
		nb = malloc(cap);
		if (!nb)
			return -1;
		if (s->buf) {
			memcpy(nb, s->buf, s->len);
			hsmca_wipe(s->buf, s->cap);
			free(s->buf);
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, tmp, (size_t)r);
	s->len += (size_t)r;
	s->buf[s->len] = '\0';
	hsmca_wipe(tmp, sizeof(tmp));
	return 1;
}

/* The last non-empty stderr line, made printable, for the error message. */
static void stderr_tail(const struct sink *s, char *out, size_t outlen)
{
	size_t end, start, o = 0;

	out[0] = '\0';
	if (!s->buf || !s->len)
		return;
	end = s->len;
	while (end > 0 && (s->buf[end - 1] == '\n' || s->buf[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && s->buf[start - 1] != '\n')
		start--;
	for (size_t i = start; i < end && o + 4 < outlen; i++) {
		unsigned char c = (unsigned char)s->buf[i];

		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (end - start > o)
		memcpy(out + o, "...", 4);
	else
		out[o] = '\0';
}

/* Spawn, collect output, wait; kill on timeout.  *status is the wait status. */
static int spawn_and_collect(const struct kube_exec *ex, char **env, int timeout_ms,
			     struct sink *out, struct sink *errs, int *status, hsmca_error *err)
{
	posix_spawn_file_actions_t fa;
	int po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	int64_t deadline = kube_now_ms() + timeout_ms;
	pid_t pid = -1;
	int ret = -1, rc, open_fds = 2;
	bool fa_init = false;

	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		hsmca_error_errno(err, "exec plugin %s: pipe", ex->command);
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		hsmca_error_set(err, "exec plugin %s: out of memory", ex->command);
		goto out;
	}
	fa_init = true;
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, po[1], 1) != 0 ||
	    posix_spawn_file_actions_adddup2(&fa, pe[1], 2) != 0) {
		hsmca_error_set(err, "exec plugin %s: out of memory", ex->command);
		goto out;
	}
	rc = ex->path ? posix_spawn(&pid, ex->path, &fa, NULL, ex->argv, env)
		      : posix_spawnp(&pid, ex->command, &fa, NULL, ex->argv, env);
	if (rc != 0) {
		pid = -1;
		errno = rc;
		hsmca_error_errno(err, "exec plugin %s: cannot start it", ex->command);
		goto out;
	}
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	while (open_fds > 0) {
		struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
		int64_t left = deadline - kube_now_ms();
		int r;

		if (left <= 0)
			break;
		r = poll(p, 2, (int)(left > 1000 ? 1000 : left));
		if (r < 0 && errno != EINTR) {
			hsmca_error_errno(err, "exec plugin %s: poll", ex->command);
			goto out;
		}
		for (int i = 0; i < 2 && r > 0; i++) {
			struct sink *s = i == 0 ? out : errs;
			int *fd = i == 0 ? &po[0] : &pe[0];

			if (*fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			rc = sink_read(*fd, s);
			if (rc <= 0) {
				close(*fd);
				*fd = -1;
				open_fds--;
			}
		}
		if (po[0] < 0 && pe[0] < 0)
			break;
		if (out->overflow) {
			hsmca_error_set(err, "exec plugin %s: output larger than %u bytes",
					ex->command, KUBE_EXEC_OUT_MAX);
			goto out;
		}
	}
	/* Output closed; give the process the rest of the time to exit. */
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid) {
			pid = -1;
			break;
		}
		if (w < 0 && errno != EINTR) {
			hsmca_error_errno(err, "exec plugin %s: waitpid", ex->command);
			goto out;
		}
		if (kube_now_ms() >= deadline) {
			hsmca_error_set(err, "exec plugin %s: no answer within %d ms, killed",
					ex->command, timeout_ms);
			goto out;
		}
		usleep(5000);
	}
	ret = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	return ret;
}

/* Wipe a json-c string value in place before the object is released. */
static void wipe_json_string(json_object *s)
{
	if (s && json_object_is_type(s, json_type_string))
		hsmca_wipe((char *)json_object_get_string(s), (size_t)json_object_get_string_len(s));
}

static int read_credential(const struct kube_exec *ex, const char *text, size_t len,
			   struct kube_exec_result *res, hsmca_error *err)
{
	json_tokener *tok = json_tokener_new_ex(16);
	json_object *o = NULL, *status = NULL, *v = NULL;
	json_object *jtoken = NULL, *jcert = NULL, *jkey = NULL, *jexp = NULL;
	int ret = -1;

	if (!tok)
		return hsmca_error_set(err, "exec plugin %s: out of memory", ex->command);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		hsmca_error_set(err, "exec plugin %s: output is not an ExecCredential JSON object",
				ex->command);
		goto out;
	}
	if (!json_object_object_get_ex(o, "kind", &v) ||
	    strcmp(json_object_get_string(v), "ExecCredential") != 0) {
		hsmca_error_set(err, "exec plugin %s: output kind is not ExecCredential",
				ex->command);
		goto out;
	}
	if (!json_object_object_get_ex(o, "apiVersion", &v) ||
	    strcmp(json_object_get_string(v), ex->api_version) != 0) {
		hsmca_error_set(err, "exec plugin %s: output apiVersion %s does not match the "
				"kubeconfig's %s", ex->command, v ? json_object_get_string(v) : "(none)",
				ex->api_version);
		goto out;
	}
	if (!json_object_object_get_ex(o, "status", &status) ||
	    !json_object_is_type(status, json_type_object)) {
		hsmca_error_set(err, "exec plugin %s: ExecCredential has no status", ex->command);
		goto out;
	}
	json_object_object_get_ex(status, "token", &jtoken);
	json_object_object_get_ex(status, "clientCertificateData", &jcert);
	json_object_object_get_ex(status, "clientKeyData", &jkey);
	json_object_object_get_ex(status, "expirationTimestamp", &jexp);
	if (jtoken && json_object_is_type(jtoken, json_type_string) &&
	    json_object_get_string_len(jtoken) > 0) {
		if (!(res->token = strdup(json_object_get_string(jtoken)))) {
			hsmca_error_set(err, "exec plugin %s: out of memory", ex->command);
			goto out;
		}
	}
	if (!jcert != !jkey) {
		hsmca_error_set(err, "exec plugin %s: ExecCredential has only one of "
				"clientCertificateData and clientKeyData", ex->command);
		goto out;
	}
	if (jcert) {
		res->cert_len = (size_t)json_object_get_string_len(jcert);
		res->key_len = (size_t)json_object_get_string_len(jkey);
		res->cert_pem = (uint8_t *)strndup(json_object_get_string(jcert), res->cert_len);
		res->key_pem = (uint8_t *)strndup(json_object_get_string(jkey), res->key_len);
		if (!res->cert_pem || !res->key_pem) {
			hsmca_error_set(err, "exec plugin %s: out of memory", ex->command);
			goto out;
		}
	}
	if (!res->token && !res->cert_pem) {
		hsmca_error_set(err, "exec plugin %s: ExecCredential has neither a token nor a "
				"client certificate", ex->command);
		goto out;
	}
	if (jexp && json_object_get_string_len(jexp) > 0 &&
	    kube_parse_rfc3339(json_object_get_string(jexp), &res->expiry) < 0) {
		hsmca_error_set(err, "exec plugin %s: bad expirationTimestamp", ex->command);
		goto out;
	}
	ret = 0;
out:
	wipe_json_string(jtoken);
	wipe_json_string(jkey);
	json_object_put(o);
	json_tokener_free(tok);
	if (ret < 0)
		kube_exec_result_clear(res);
	return ret;
}

int kube_exec_run(const struct kube_exec *ex, const struct kube_exec_cluster *cl,
		  int timeout_ms, struct kube_exec_result *res, hsmca_error *err)
{
	struct sink out = { .max = KUBE_EXEC_OUT_MAX }, errs = { .max = KUBE_EXEC_ERR_MAX };
	struct kube_exec_result r = { 0 };
	char *info = exec_info(ex, cl);
	char **env = NULL;
	char tail[256];
	int status = 0, ret = -1;

	if (!info || !(env = build_env(ex, info))) {
		hsmca_error_set(err, "exec plugin %s: out of memory", ex->command);
		goto out;
	}
	if (spawn_and_collect(ex, env, timeout_ms, &out, &errs, &status, err) < 0)
		goto out;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		stderr_tail(&errs, tail, sizeof(tail));
		if (WIFEXITED(status))
			hsmca_error_set(err, "exec plugin %s exited with status %d%s%s", ex->command,
					WEXITSTATUS(status), tail[0] ? ": " : "", tail);
		else
			hsmca_error_set(err, "exec plugin %s killed by signal %d", ex->command,
					WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		goto out;
	}
	if (read_credential(ex, out.buf ? out.buf : "", out.len, &r, err) < 0)
		goto out;
	*res = r;
	ret = 0;
out:
	kube_free_secret(out.buf, out.cap);
	kube_free_secret(errs.buf, errs.cap);
	free(env); /* its strings belong to environ, ex and info */
	free(info);
	return ret;
}
