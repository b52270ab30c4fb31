/* Shared by the subcommands: global options, output helpers, the table. */
#ifndef HSMCA_CLI_H
#define HSMCA_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"
#include "state/session.h"

struct cli_globals {
	const char *home;
	const char *module;
	const char *token;
	const char *pin_source;
	const char *node_file; /* -f, talm node file */
	bool json;
	int verbosity; /* -1 quiet, 0 normal, 1 verbose */
};

extern struct cli_globals cli;

struct cli_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
	const char *summary;
};

/* Exit codes (documented in hsmca(1)). */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* "hsmca: <msg>" on stderr; returns CLI_FAIL. */
int cli_fail(const hsmca_error *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message + the command's synopsis, returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open the state directory's module and token from the global options,
 * logging in when `login`.  Prints the software-token notice once. */
int cli_open(struct hsmca_session **out, bool login);
void cli_close(struct hsmca_session *s);

/* Reject a PIN passed on argv (any --pin/--so-pin form). */
bool cli_argv_has_pin(int argc, char **argv);

/* Read a new PIN; from a prompt it is asked twice and must match. */
int cli_read_new_pin(const char *source, const char *what, struct hsmca_pin *pin, hsmca_error *err);

/* Whether --help/-h appears among the action's arguments. */
bool cli_wants_help(int argc, char **argv);
/* A pkcs11: URI with pin-value anywhere on the command line. */
bool cli_argv_has_pin_value(int argc, char **argv);

/* Print the help of a subcommand from the table. */
void cli_print_synopsis(FILE *f, const char *name);

/* --chain-out / --fullchain of sign and issue: the chain of CA `ca` up to,
 * not including, the root, written to chain_out (when not NULL) and, with
 * fullchain, appended to *pem (realloc'ed).  Prints its own error. */
int cli_write_chain(const char *cmd, const char *home, const char *ca, const char *chain_out,
		    bool fullchain, char **pem, size_t *pem_len);

struct hsmca_rot_issued;
/* What `talos issue-config` / `kube issue-config` wrote: JSON with --json,
 * else one line naming `what` (the role or profile). */
void cli_print_issued(const char *file, const char *what, const struct hsmca_rot_issued *info);

/* End of a ceremony: sign an audit checkpoint in the token (a note, not a
 * failure, when the token has no audit key).  0 or CLI_FAIL. */
int cli_checkpoint(struct hsmca_session *s);

/* hsmca init's custody steps (cmd_pin.c), run once the token exists and
 * its user PIN is in `user_pin`: generate the audit key and sign the first
 * checkpoint; with m > 0 split both PINs into shares in shares_out. */
int cli_init_custody(const char *home, hsmca_module *m, const char *token_uri,
		     const struct hsmca_pin *user_pin, const struct hsmca_pin *so_pin, unsigned shares_m,
		     unsigned shares_n, const char *shares_out, const char *label);

int cmd_init(int argc, char **argv);
int cmd_bundle(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_ca(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_certs(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_issue(int argc, char **argv);
int cmd_profiles(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_crl(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_rotate_ca(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_talos(int argc, char **argv);
int cmd_kube(int argc, char **argv);
int cmd_tenant(int argc, char **argv);

#endif
