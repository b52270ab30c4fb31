/* Output and option helpers shared by the subcommands: the only place
 * besides the subcommands that writes to the terminal. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "rotate/rotate.h"

struct cli_globals cli;

int cli_fail(const hsmca_error *err)
{
	fprintf(stderr, "hsmca: %s\n", err->msg[0] ? err->msg : "operation failed");
	return CLI_FAIL;
}

int cli_failf(const char *fmt, ...)
{
	va_list ap;

	fputs("hsmca: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("hsmca: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		cli_print_synopsis(stderr, cmd);
	return CLI_USAGE;
}

void cli_info(const char *fmt, ...)
{
	va_list ap;

	if (cli.verbosity < 0)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

void cli_verbose(const char *fmt, ...)
{
	va_list ap;

	if (cli.verbosity < 1)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

bool cli_argv_has_pin(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0)
			continue;
		a += 2;
		if (strncmp(a, "so-", 3) == 0)
			a += 3;
		else if (strncmp(a, "user-", 5) == 0)
			a += 5;
		if (strncmp(a, "pin", 3) == 0 && (a[3] == '\0' || a[3] == '='))
			return true;
		if (strcmp(a, "pin-value") == 0 || strncmp(a, "pin-value=", 10) == 0)
			return true;
	}
	return false;
}

/* A token call that stopped answering (a paused TPM blocks forever): say so
 * and leave; nothing half-written is left because outputs are written only
 * after the token's work is verified. */
static void token_stalled(void *arg, const char *call, unsigned seconds)
{
	char msg[256];
	int n;

	(void)arg;
	n = snprintf(msg, sizeof(msg), "hsmca: the token has not answered for %u s (%s): it is stopped "
				       "or hung; giving up (HSMCA_TOKEN_TIMEOUT sets the limit)\n",
		     seconds, call);
	if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0) {
		/* nothing more to do */
	}
	_exit(CLI_FAIL);
}

int cli_open(struct hsmca_session **out, bool login)
{
	static bool noticed;
	struct hsmca_session_opts o = {
		.home = cli.home,
		.module = cli.module,
		.token = cli.token,
		.pin_source = cli.pin_source,
		.login = login,
	};
	hsmca_error err = { "", 0 };

	{
		const char *env = getenv("HSMCA_TOKEN_TIMEOUT");
		long secs = env && *env ? strtol(env, NULL, 10) : 300;

		/* Only wraps modules that can hang (libtpm2_pkcs11); 0 disables. */
		if (secs > 0 && hsmca_token_watchdog((unsigned)secs, token_stalled, NULL, &err) != 0)
			return cli_fail(&err);
	}
	if (hsmca_session_open(&o, out, &err) != 0)
		return cli_fail(&err);
	if ((*out)->software && !noticed && cli.verbosity >= 0) {
		noticed = true;
		fprintf(stderr, "hsmca: note: keys are in SoftHSM2, a software token meant for "
				"development, not in hardware\n");
	}
	return 0;
}

void cli_close(struct hsmca_session *s)
{
	hsmca_session_close(s);
}

bool cli_wants_help(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

bool cli_argv_has_pin_value(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strstr(argv[i], "pin-value="))
			return true;
	return false;
}

int cli_read_new_pin(const char *source, const char *what, struct hsmca_pin *pin, hsmca_error *err)
{
	struct hsmca_pin again;
	char prompt[64];
	int ret;

	snprintf(prompt, sizeof(prompt), "New %s: ", what);
	if (hsmca_pin_read(source, prompt, pin, err) != 0)
		return -1;
	if (source && strcmp(source, "prompt") != 0)
		return 0;
	/* Typed blind: ask twice. */
	snprintf(prompt, sizeof(prompt), "Repeat the new %s: ", what);
	if (hsmca_pin_read(source, prompt, &again, err) != 0) {
		hsmca_pin_wipe(pin);
		return -1;
	}
	ret = again.len == pin->len && CRYPTO_memcmp(again.value, pin->value, pin->len) == 0 ? 0 : -1;
	hsmca_pin_wipe(&again);
	if (ret != 0) {
		hsmca_pin_wipe(pin);
		return hsmca_error_set(err, "the two entries of the new %s differ; nothing changed", what);
	}
	return 0;
}

void cli_print_issued(const char *file, const char *what, const struct hsmca_rot_issued *info)
{
	json_object *o;

	if (!cli.json) {
		printf("wrote %s (mode 0600, context %s): %s certificate %s, serial %s, valid until "
		       "%s, signed by %s\n", file, info->context, what, info->subject, info->serial,
		       info->not_after, info->ca);
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "file", json_object_new_string(file));
	json_object_object_add(o, "ca", json_object_new_string(info->ca));
	json_object_object_add(o, "profile", json_object_new_string(info->profile));
	json_object_object_add(o, "context", json_object_new_string(info->context));
	json_object_object_add(o, "subject", json_object_new_string(info->subject));
	json_object_object_add(o, "serial", json_object_new_string(info->serial));
	json_object_object_add(o, "not_after", json_object_new_string(info->not_after));
	json_object_object_add(o, "sha256", json_object_new_string(info->fingerprint));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
}
