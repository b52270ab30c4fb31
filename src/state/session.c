#include "state/session.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "pinshare/pinshare.h"

/* PIN shares name the token they open: refuse them for another token before
 * the token sees a PIN, then record which shares were used. */
static int session_shares_check(struct hsmca_session *s, const char *source, struct hsmca_pin *pin,
				hsmca_error *err)
{
	struct hsmca_pinshare_use use;
	const char *serial = hsmca_token_get_info(s->token)->serial;

	if (!hsmca_pinshare_last(&use))
		return hsmca_error_set(err, "pin source %s: no shares were used", source);
	if (strcmp(use.token, serial) != 0) {
		hsmca_pin_wipe(pin);
		return hsmca_error_set(err, "pin source %s: the shares are for token serial %s, this "
					    "token's serial is %s; nothing was sent to the token",
				       source, use.token, serial);
	}
	{
		char mn[24];
		const char *d[] = { "role", use.role, "shares", use.indices, "threshold", mn,
				    "split", use.set, "token_serial", use.token, NULL };

		snprintf(mn, sizeof(mn), "%u-of-%u", use.m, use.n);
		if (hsmca_audit_append(s->audit, "pin-shares", source, "ok", d, err) != 0) {
			hsmca_pin_wipe(pin);
			return -1;
		}
	}
	return 0;
}

int hsmca_session_open(const struct hsmca_session_opts *opts, struct hsmca_session **out,
		       hsmca_error *err)
{
	struct hsmca_session *s = calloc(1, sizeof(*s));
	struct hsmca_pin pin;
	char path[PATH_MAX], uri_pin[PATH_MAX];
	const char *token_uri, *pin_source;
	int ret = -1, lockfd = -1;

	memset(&pin, 0, sizeof(pin));
	if (!s)
		return hsmca_error_set(err, "out of memory");
	if (hsmca_home_resolve(opts->home, s->home, sizeof(s->home), err) != 0 ||
	    hsmca_config_load(s->home, &s->cfg, err) != 0)
		goto out;
	hsmca_config_apply_env(&s->cfg);
	/* SoftHSM2 rewrites its token file on login; two processes logging in at
	 * once can make one fail with CKR_GENERAL_ERROR.  Opening and logging in
	 * are serialised per state directory (only these, not the work after). */
	if (hsmca_path_join(path, sizeof(path), err, "%s/.session.lock", s->home) != 0)
		goto out;
	lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lockfd >= 0) {
		while (flock(lockfd, LOCK_EX) != 0 && errno == EINTR)
			;
	}
	if (hsmca_module_open(opts->module && *opts->module ? opts->module : s->cfg.module, &s->module,
			      err) != 0)
		goto out;
	s->software = hsmca_module_is_software(s->module);
	s->tpm = hsmca_module_is_tpm(s->module);
	token_uri = opts->token && *opts->token ? opts->token : s->cfg.token;
	if (hsmca_token_open(s->module, token_uri, &s->token, err) != 0)
		goto out;
	if (hsmca_path_join(path, sizeof(path), err, "%s/audit.log", s->home) != 0 ||
	    hsmca_audit_open(path, &s->audit, err) != 0)
		goto out;
	if (opts->login) {
		int rc = 0;

		pin_source = opts->pin_source;
		if ((!pin_source || !*pin_source) && token_uri && *token_uri) {
			rc = hsmca_uri_get(token_uri, "pin-source", uri_pin, sizeof(uri_pin), err);
			if (rc < 0)
				goto out;
			if (rc == 1)
				pin_source = uri_pin;
		}
		if (!pin_source || !*pin_source)
			pin_source = s->cfg.pin_source[0] ? s->cfg.pin_source : NULL;
		if (!pin_source &&
		    (hsmca_token_get_info(s->token)->flags & CKF_PROTECTED_AUTHENTICATION_PATH)) {
			/* A PIN pad on the device: the PIN never crosses the host. */
			if (hsmca_token_login(s->token, false, NULL, err) != 0)
				goto out;
		} else {
			if (hsmca_pin_read(pin_source, "User PIN: ", &pin, err) != 0) {
				if (pin_source && strncmp(pin_source, "shares:", 7) == 0) {
					const char *d[] = { "reason", err->msg, NULL };

					hsmca_audit_append(s->audit, "pin-shares", pin_source, "failed", d, NULL);
				}
				goto out;
			}
			if (pin_source && strncmp(pin_source, "shares:", 7) == 0 &&
			    session_shares_check(s, pin_source, &pin, err) != 0)
				goto out;
			if (hsmca_token_login(s->token, false, &pin, err) != 0)
				goto out;
		}
	}
	*out = s;
	s = NULL;
	ret = 0;
out:
	if (lockfd >= 0)
		close(lockfd); /* releases the lock */
	hsmca_pin_wipe(&pin);
	hsmca_session_close(s);
	return ret;
}

void hsmca_session_close(struct hsmca_session *s)
{
	if (!s)
		return;
	hsmca_audit_close(s->audit);
	hsmca_token_close(s->token);
	hsmca_module_close(s->module);
	free(s);
}

int hsmca_session_audit(struct hsmca_session *s, const char *event, const char *object,
			const char *outcome, const char *const *detail, hsmca_error *err)
{
	return hsmca_audit_append(s->audit, event, object, outcome, detail, err);
}
