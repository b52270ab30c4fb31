/* A working session: the state directory, its one module and token, the
 * audit log.  Commands open one, do their work, close it. */
#ifndef HSMCA_SESSION_H
#define HSMCA_SESSION_H

#include <limits.h>
#include <stdbool.h>

#include "audit/audit.h"
#include "common/error.h"
#include "state/config.h"
#include "pkcs11/token.h"

struct hsmca_session_opts {
	const char *home;       /* --home */
	const char *module;     /* --module overrides the config */
	const char *token;      /* --token overrides the config */
	const char *pin_source; /* --pin-source overrides the config and the URI */
	bool login;
};

struct hsmca_session {
	char home[PATH_MAX];
	struct hsmca_config cfg;
	hsmca_module *module;
	hsmca_token *token;
	hsmca_audit *audit;
	bool software; /* a software token meant for development */
	bool tpm;
};

/* Open the state directory, load and initialise the module, open the token
 * and (when opts->login) log in.  The PIN comes from opts->pin_source, the
 * token URI's pin-source, the config's pin_source, or a prompt, in that
 * order, and is wiped before this returns. */
int hsmca_session_open(const struct hsmca_session_opts *opts, struct hsmca_session **out,
		       hsmca_error *err);
void hsmca_session_close(struct hsmca_session *s);

/* Append an audit event; actor and time are filled in. */
int hsmca_session_audit(struct hsmca_session *s, const char *event, const char *object,
			const char *outcome, const char *const *detail, hsmca_error *err);

#endif
