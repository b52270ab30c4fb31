/* PIN input.  PINs never come from argv: a file, an environment variable or
 * a terminal prompt with echo off.  One fixed buffer, wiped on every path. */
#include "pkcs11/token.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/secure_path.h"
#include "common/util.h"
#include "pinshare/pinshare.h"

void hsmca_pin_wipe(struct hsmca_pin *pin)
{
	if (pin) {
		hsmca_wipe(pin->value, sizeof(pin->value));
		pin->len = 0;
	}
}

static void trim_newline(struct hsmca_pin *pin)
{
	while (pin->len > 0 && (pin->value[pin->len - 1] == '\n' || pin->value[pin->len - 1] == '\r'))
		pin->value[--pin->len] = '\0';
}

static int pin_from_fd(int fd, const char *what, struct hsmca_pin *pin, hsmca_error *err)
{
	size_t have = 0;

	for (;;) {
		ssize_t n;

		if (have >= sizeof(pin->value) - 1) {
			char extra;

			/* Exactly full is fine if only a newline follows. */
			n = read(fd, &extra, 1);
			if (n == 1 && extra != '\n' && extra != '\r')
				return hsmca_error_set(err, "%s: PIN is longer than %d bytes", what,
						       HSMCA_PIN_MAX - 1);
			break;
		}
		n = read(fd, pin->value + have, sizeof(pin->value) - 1 - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return hsmca_error_errno(err, "%s: cannot read the PIN", what);
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (memchr(pin->value, '\n', have))
			break;
	}
	pin->value[have] = '\0';
	pin->len = have;
	{
		char *nl = memchr(pin->value, '\n', have);

		if (nl) {
			pin->len = (size_t)(nl - pin->value);
			hsmca_wipe(nl, have - pin->len);
		}
	}
	trim_newline(pin);
	return 0;
}

static int pin_from_prompt(const char *prompt, struct hsmca_pin *pin, hsmca_error *err)
{
	struct termios old, noecho;
	int fd = -1, ret = -1;

	if (!isatty(STDIN_FILENO))
		return hsmca_error_set(err, "no PIN source given and standard input is not a terminal "
					    "(use --pin-source file:PATH or env:VAR)");
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return hsmca_error_errno(err, "cannot open the terminal for the PIN prompt");
	if (tcgetattr(fd, &old) != 0) {
		hsmca_error_errno(err, "cannot read terminal settings");
		goto out;
	}
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	noecho.c_lflag |= ICANON;
	/* Echo off first, then the prompt: nothing typed early is echoed. */
	if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0 || write(fd, prompt, strlen(prompt)) < 0) {
		hsmca_error_errno(err, "cannot prepare the PIN prompt");
		goto out;
	}
	ret = pin_from_fd(fd, "prompt", pin, err);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* Only cosmetic. */
	}
out:
	close(fd);
	return ret;
}

int hsmca_pin_read(const char *source, const char *prompt, struct hsmca_pin *pin,
		   hsmca_error *err)
{
	int ret = -1;

	memset(pin, 0, sizeof(*pin));
	if (!source || strcmp(source, "prompt") == 0) {
		ret = pin_from_prompt(prompt ? prompt : "PIN: ", pin, err);
	} else if (strncmp(source, "env:", 4) == 0) {
		const char *v = getenv(source + 4);
		size_t len;

		if (!source[4]) {
			hsmca_error_set(err, "pin source '%s': no variable name", source);
			goto out;
		}
		if (!v) {
			hsmca_error_set(err, "pin source '%s': environment variable %s is not set",
					source, source + 4);
			goto out;
		}
		len = strlen(v);
		if (len >= sizeof(pin->value)) {
			hsmca_error_set(err, "pin source '%s': PIN is longer than %d bytes", source,
					HSMCA_PIN_MAX - 1);
			goto out;
		}
		memcpy(pin->value, v, len + 1);
		pin->len = len;
		trim_newline(pin);
		ret = 0;
	} else if (strncmp(source, "shares:", 7) == 0) {
		/* M-of-N custody (src/pinshare/): the user PIN, rebuilt from shares. */
		ret = hsmca_pinshare_read(source + 7, "user", pin, err);
	} else {
		const char *path = strncmp(source, "file:", 5) == 0 ? source + 5 : source;
		int fd;

		if (strchr(source, ':') && strncmp(source, "file:", 5) != 0 && path == source &&
		    source[0] != '/' && source[0] != '.') {
			hsmca_error_set(err, "pin source '%s': unknown kind (use file:PATH, env:VAR or prompt)",
					source);
			goto out;
		}
		if (strncmp(path, "//", 2) == 0)
			path += 2; /* file:///path */
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			hsmca_error_errno(err, "pin source '%s': cannot open %s", source, path);
			goto out;
		}
		/* A PIN file others can read, or replace, is refused (StrictModes). */
		if (hsmca_secure_secret_fd(fd, path, err) != 0) {
			hsmca_error_prefix(err, "pin source '%s'", source);
			close(fd);
			goto out;
		}
		ret = pin_from_fd(fd, source, pin, err);
		close(fd);
	}
	if (ret == 0 && pin->len == 0) {
		hsmca_error_set(err, "pin source '%s': the PIN is empty", source ? source : "prompt");
		ret = -1;
	}
out:
	if (ret != 0)
		hsmca_pin_wipe(pin);
	return ret;
}
