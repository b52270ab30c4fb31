/* Shamir M-of-N custody of PINs with libgfshare (pinshare.h). */
#include "pinshare/pinshare.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <libgfshare.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/fsutil.h"
#include "common/sha2.h"
#include "common/util.h"

#define PREFIX "hsmca-share-v1:"
#define DOMAIN "hsmca-pinshare-v1"
#define SALT 16
#define TAG 16
#define SECRET_MAX (1 + 256 + SALT + TAG)
#define LINE_MAX_ 1024

struct share {
	char role[8];
	char token[17];
	char set[33];
	unsigned m, n, index;
	uint8_t y[SECRET_MAX];
	size_t len;
	char origin[300]; /* file name or "share typed at the terminal" */
};

/* Everything secret lives here: one mlock'ed, non-dumpable mapping. */
struct vault {
	struct share shares[HSMCA_PINSHARE_MAX_N];
	size_t count;
	uint8_t secret[SECRET_MAX];
	char line[LINE_MAX_];
};

static struct hsmca_pinshare_use last_use;
static bool last_valid;
static bool rand_failed;

static void fill_rand(unsigned char *buf, unsigned int n)
{
	if (RAND_bytes(buf, (int)n) != 1)
		rand_failed = true;
}

static struct vault *vault_new(hsmca_error *err)
{
	struct vault *v = mmap(NULL, sizeof(*v), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

	if (v == MAP_FAILED) {
		hsmca_error_errno(err, "cannot map memory for the shares");
		return NULL;
	}
	madvise(v, sizeof(*v), MADV_DONTDUMP);
	if (mlock(v, sizeof(*v)) != 0) {
		hsmca_error_errno(err, "cannot lock memory for the shares (RLIMIT_MEMLOCK?)");
		munmap(v, sizeof(*v));
		return NULL;
	}
	return v;
}

static void vault_free(struct vault *v)
{
	if (!v)
		return;
	hsmca_wipe(v, sizeof(*v));
	munlock(v, sizeof(*v));
	munmap(v, sizeof(*v));
}

int hsmca_pinshare_parse_mn(const char *s, unsigned *m, unsigned *n, hsmca_error *err)
{
	char *end;
	unsigned long a, b;

	a = strtoul(s, &end, 10);
	if (end == s || *end != '/')
		goto bad;
	s = end + 1;
	b = strtoul(s, &end, 10);
	if (end == s || *end)
		goto bad;
	if (a < 2 || a > b || b > HSMCA_PINSHARE_MAX_N)
		return hsmca_error_set(err, "--pin-shares %lu/%lu: need 2 <= M <= N <= %d", a, b,
				       HSMCA_PINSHARE_MAX_N);
	*m = (unsigned)a;
	*n = (unsigned)b;
	return 0;
bad:
	return hsmca_error_set(err, "--pin-shares: expected M/N, e.g. 3/5");
}

static void compute_tag(const char *role, const char *serial, const char *set, unsigned m,
			unsigned n, const uint8_t *sec, size_t len, uint8_t tag[TAG])
{
	uint8_t buf[SECRET_MAX + 128], md[32];
	int h = snprintf((char *)buf, 128, DOMAIN "|%s|%s|%s|%u|%u|", role, serial, set, m, n);

	memcpy(buf + h, sec, len);
	hsmca_sha2(256, buf, (size_t)h + len, md);
	memcpy(tag, md, TAG);
	hsmca_wipe(md, sizeof(md));
	hsmca_wipe(buf, sizeof(buf));
}

static void line_check(const char *line, size_t len, char out[17])
{
	uint8_t md[32];

	hsmca_sha2(256, line, len, md);
	hsmca_hex(md, 8, out);
}

/* Build the secret for one PIN; returns its length. */
static size_t make_secret(const struct hsmca_pin *pin, const char *role, const char *serial,
			  const char *set, unsigned m, unsigned n, uint8_t *sec)
{
	size_t padded = pin->len <= 32 ? 32 : (pin->len + 31) / 32 * 32, len;

	if (padded > 256)
		padded = 256;
	sec[0] = (uint8_t)pin->len;
	fill_rand(sec + 1, (unsigned)(padded + SALT));
	memcpy(sec + 1, pin->value, pin->len);
	len = 1 + padded + SALT;
	compute_tag(role, serial, set, m, n, sec, len, sec + len);
	return len + TAG;
}

/* Append custodian i's line for one PIN to buf. */
static int split_one(struct vault *v, const struct hsmca_pin *pin, const char *role,
		     const char *serial, const char *set, unsigned m, unsigned n, char **lines,
		     size_t *lens, hsmca_error *err)
{
	unsigned char nrs[HSMCA_PINSHARE_MAX_N], zero[SECRET_MAX] = { 0 };
	gfshare_ctx *g;
	size_t len = make_secret(pin, role, serial, set, m, n, v->secret);
	unsigned i;

	for (i = 0; i < n; i++)
		nrs[i] = (unsigned char)(i + 1);
	g = gfshare_ctx_init_enc(nrs, n, (unsigned char)m, (unsigned)len);
	if (!g)
		return hsmca_error_set(err, "libgfshare: cannot make a split context");
	gfshare_ctx_enc_setsecret(g, v->secret);
	for (i = 0; i < n; i++) {
		char hex[2 * SECRET_MAX + 1], chk[17];
		int k;

		gfshare_ctx_enc_getshare(g, (unsigned char)i, v->shares[0].y);
		hsmca_hex(v->shares[0].y, len, hex);
		k = snprintf(v->line, sizeof(v->line), PREFIX "%s:%s:%s:%u:%u:%u:%s", role, serial, set,
			     m, n, i + 1, hex);
		hsmca_wipe(hex, sizeof(hex));
		line_check(v->line, (size_t)k, chk);
		k += snprintf(v->line + k, sizeof(v->line) - (size_t)k, ":%s\n", chk);
		memcpy(lines[i] + lens[i], v->line, (size_t)k);
		lens[i] += (size_t)k;
	}
	/* Belt and braces: gfshare_ctx_free() scrambles its buffer with
	 * gfshare_fill_rand, and a zero secret with fresh coefficients leaves
	 * nothing of ours there even before that. */
	gfshare_ctx_enc_setsecret(g, zero);
	gfshare_ctx_free(g);
	if (rand_failed)
		return hsmca_error_openssl(err, "draw random coefficients");
	return 0;
}

int hsmca_pinshare_split(const struct hsmca_pin *user_pin, const struct hsmca_pin *so_pin,
			 unsigned m, unsigned n, const char *label, const char *serial,
			 const char *dir, hsmca_error *err)
{
	char *lines[HSMCA_PINSHARE_MAX_N] = { NULL };
	size_t lens[HSMCA_PINSHARE_MAX_N] = { 0 };
	char set[33], path[PATH_MAX];
	uint8_t setb[16];
	struct vault *v = NULL;
	unsigned i, written = 0;
	int ret = -1;

	if (m < 2 || m > n || n > HSMCA_PINSHARE_MAX_N)
		return hsmca_error_set(err, "split PIN: need 2 <= M <= N <= %d", HSMCA_PINSHARE_MAX_N);
	if (!serial[0] || strchr(serial, ':') || strchr(serial, '\n'))
		return hsmca_error_set(err, "split PIN: the token serial '%s' cannot name a share",
				       serial);
	if (hsmca_mkdir_p(dir, 0700, err) != 0)
		return -1;
	gfshare_fill_rand = fill_rand;
	rand_failed = false;
	if (RAND_bytes(setb, sizeof(setb)) != 1)
		return hsmca_error_openssl(err, "draw a split identifier");
	hsmca_hex(setb, sizeof(setb), set);
	v = vault_new(err);
	if (!v)
		return -1;
	for (i = 0; i < n; i++) {
		/* Each file: a comment, then one line per PIN (~700 bytes each at most). */
		lines[i] = malloc(4096);
		if (!lines[i]) {
			hsmca_error_set(err, "out of memory");
			goto out;
		}
		if (mlock(lines[i], 4096) != 0) {
			hsmca_error_errno(err, "cannot lock memory for the shares");
			goto out;
		}
		lens[i] = (size_t)snprintf(lines[i], 4096,
					   "# hsmca PIN share %u of %u (any %u together open the token)\n"
					   "# token %s, serial %s, split %s; %s\n"
					   "# Keep this file secret (mode 0600); hand it to custodian %u only.\n",
					   i + 1, n, m, label, serial, set,
					   so_pin ? "user PIN and SO PIN" : "user PIN", i + 1);
	}
	if (split_one(v, user_pin, "user", serial, set, m, n, lines, lens, err) != 0 ||
	    (so_pin && split_one(v, so_pin, "so", serial, set, m, n, lines, lens, err) != 0))
		goto out;
	for (i = 0; i < n; i++) {
		if (hsmca_path_join(path, sizeof(path), err, "%s/share-%u-of-%u.txt", dir, i + 1, n) != 0 ||
		    hsmca_write_secret(path, lines[i], lens[i], err) != 0)
			goto out;
		written++;
	}
	ret = 0;
out:
	if (ret != 0) {
		for (i = 0; i < written; i++)
			if (snprintf(path, sizeof(path), "%s/share-%u-of-%u.txt", dir, i + 1, n) <
			    (int)sizeof(path))
				unlink(path);
	}
	for (i = 0; i < n; i++) {
		if (lines[i]) {
			hsmca_wipe(lines[i], 4096);
			munlock(lines[i], 4096);
			free(lines[i]);
		}
	}
	vault_free(v);
	return ret;
}

static bool is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Parse one share line (no newline) into sh.  1 = a share of `role`,
 * 0 = a share of another role (skipped), -1 = malformed or failed check. */
static int parse_share(char *line, const char *role, struct share *sh, hsmca_error *err)
{
	char *f[7], *p, *chkp, chk[17];
	size_t i;

	if (strncmp(line, PREFIX, strlen(PREFIX)) != 0)
		return hsmca_error_set(err, "not an hsmca share line");
	/* The check covers the line as written, up to its last ':'. */
	chkp = strrchr(line, ':');
	line_check(line, (size_t)(chkp - line), chk);
	if (strlen(chkp + 1) != 16 || CRYPTO_memcmp(chk, chkp + 1, 16) != 0)
		return hsmca_error_set(err, "share is corrupted (its check value does not match)");
	*chkp = '\0';
	p = line + strlen(PREFIX);
	for (i = 0; i < 7; i++) {
		f[i] = p;
		p = strchr(p, ':');
		if (i < 6) {
			if (!p)
				return hsmca_error_set(err, "malformed share (too few fields)");
			*p++ = '\0';
		} else if (p) {
			return hsmca_error_set(err, "malformed share (too many fields)");
		}
	}
	if (strcmp(f[0], "user") != 0 && strcmp(f[0], "so") != 0)
		return hsmca_error_set(err, "unknown role '%s'", f[0]);
	if (strcmp(f[0], role) != 0)
		return 0;
	if (strlen(f[1]) >= sizeof(sh->token) || strlen(f[2]) != 32 || !is_hex(f[2], 32))
		return hsmca_error_set(err, "malformed share (token or set)");
	snprintf(sh->role, sizeof(sh->role), "%s", f[0]);
	snprintf(sh->token, sizeof(sh->token), "%s", f[1]);
	snprintf(sh->set, sizeof(sh->set), "%s", f[2]);
	sh->m = (unsigned)strtoul(f[3], NULL, 10);
	sh->n = (unsigned)strtoul(f[4], NULL, 10);
	sh->index = (unsigned)strtoul(f[5], NULL, 10);
	if (sh->m < 2 || sh->m > sh->n || sh->n > HSMCA_PINSHARE_MAX_N || sh->index < 1 ||
	    sh->index > sh->n)
		return hsmca_error_set(err, "malformed share (M, N or index out of range)");
	if (strlen(f[6]) % 2 || strlen(f[6]) / 2 > SECRET_MAX ||
	    strlen(f[6]) / 2 < 1 + 32 + SALT + TAG || hsmca_unhex(f[6], sh->y, sizeof(sh->y)) < 0)
		return hsmca_error_set(err, "malformed share (share bytes)");
	sh->len = strlen(f[6]) / 2;
	return 1;
}

/* Add a parsed share to the vault, checking it agrees with the others. */
static int add_share(struct vault *v, const struct share *sh, hsmca_error *err)
{
	size_t i;

	for (i = 0; i < v->count; i++) {
		const struct share *o = &v->shares[i];

		if (strcmp(o->set, sh->set) != 0 || o->m != sh->m || o->n != sh->n ||
		    strcmp(o->token, sh->token) != 0 || o->len != sh->len)
			return hsmca_error_set(err, "%s and %s belong to different splits (set %.8s… "
						    "%u-of-%u for token %s vs set %.8s… %u-of-%u for "
						    "token %s)",
					       o->origin, sh->origin, o->set, o->m, o->n, o->token,
					       sh->set, sh->m, sh->n, sh->token);
		if (o->index == sh->index)
			return hsmca_error_set(err, "%s and %s are both share %u", o->origin,
					       sh->origin, sh->index);
	}
	if (v->count == HSMCA_PINSHARE_MAX_N)
		return hsmca_error_set(err, "too many shares");
	v->shares[v->count++] = *sh;
	return 0;
}

static int shares_from_dir(struct vault *v, const char *dir, const char *role, hsmca_error *err)
{
	struct dirent **names = NULL;
	int count = scandir(dir, &names, NULL, alphasort), i, ret = -1;

	if (count < 0)
		return hsmca_error_errno(err, "cannot read the share directory %s", dir);
	for (i = 0; i < count; i++) {
		struct share *sh = &v->shares[HSMCA_PINSHARE_MAX_N - 1];
		char path[PATH_MAX];
		struct stat st;
		FILE *f;

		if (names[i]->d_name[0] == '.')
			continue;
		if (hsmca_path_join(path, sizeof(path), err, "%s/%s", dir, names[i]->d_name) != 0)
			goto out;
		if (lstat(path, &st) != 0) {
			hsmca_error_errno(err, "cannot stat %s", path);
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			hsmca_error_set(err, "%s is not a regular file (symlinks are refused)", path);
			goto out;
		}
		if (st.st_uid != geteuid() || (st.st_mode & 077)) {
			hsmca_error_set(err, "share file %s must be owned by you and mode 0600 (it is "
					     "mode %04o, uid %u)", path, (unsigned)(st.st_mode & 07777),
					(unsigned)st.st_uid);
			goto out;
		}
		f = fopen(path, "re");
		if (!f) {
			hsmca_error_errno(err, "cannot open %s", path);
			goto out;
		}
		setvbuf(f, NULL, _IONBF, 0); /* no stdio copy of the share */
		while (fgets(v->line, sizeof(v->line), f)) {
			int rc;

			v->line[strcspn(v->line, "\r\n")] = '\0';
			if (v->line[0] == '#' || v->line[0] == '\0')
				continue;
			memset(sh, 0, sizeof(*sh));
			rc = parse_share(v->line, role, sh, err);
			snprintf(sh->origin, sizeof(sh->origin), "share file %s", path);
			if (rc < 0) {
				hsmca_error_prefix(err, "share file %s", path);
				fclose(f);
				goto out;
			}
			if (rc == 1 && add_share(v, sh, err) != 0) {
				fclose(f);
				goto out;
			}
		}
		fclose(f);
	}
	ret = 0;
out:
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return ret;
}

static int shares_from_tty(struct vault *v, const char *role, hsmca_error *err)
{
	struct termios old, noecho;
	char prompt[160];
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), ret = -1;
	unsigned want = 0;

	if (fd < 0)
		return hsmca_error_errno(err, "shares:tty: cannot open the terminal");
	if (tcgetattr(fd, &old) != 0) {
		hsmca_error_errno(err, "shares:tty: cannot read terminal settings");
		goto out_fd;
	}
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	noecho.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0) {
		hsmca_error_errno(err, "shares:tty: cannot turn echo off");
		goto out_fd;
	}
	while (want == 0 || v->count < want) {
		struct share *sh = &v->shares[HSMCA_PINSHARE_MAX_N - 1];
		ssize_t n;
		int rc, k;

		k = snprintf(prompt, sizeof(prompt),
			     "Custodian %zu: type or paste your %s PIN share (echo is off; empty "
			     "line to stop): ", v->count + 1, role);
		if (write(fd, prompt, (size_t)k) < 0)
			break;
		n = read(fd, v->line, sizeof(v->line) - 1);
		if (write(fd, "\n", 1) < 0) {
			/* cosmetic */
		}
		if (n <= 0)
			break;
		v->line[n] = '\0';
		v->line[strcspn(v->line, "\r\n")] = '\0';
		if (!v->line[0])
			break;
		memset(sh, 0, sizeof(*sh));
		rc = parse_share(v->line, role, sh, err);
		snprintf(sh->origin, sizeof(sh->origin), "share %zu typed at the terminal",
			 v->count + 1);
		if (rc == 0)
			hsmca_error_set(err, "this is not a %s PIN share", role);
		if (rc <= 0) {
			hsmca_error_prefix(err, "share %zu typed at the terminal", v->count + 1);
			goto out;
		}
		if (add_share(v, sh, err) != 0)
			goto out;
		want = sh->m;
	}
	ret = 0;
out:
	tcsetattr(fd, TCSAFLUSH, &old);
out_fd:
	close(fd);
	return ret;
}

static int reconstruct(struct vault *v, struct hsmca_pin *pin, hsmca_error *err)
{
	unsigned char nrs[HSMCA_PINSHARE_MAX_N], zero[SECRET_MAX] = { 0 };
	const struct share *s0 = &v->shares[0];
	size_t i, len = s0->len, body = len - TAG, plen;
	uint8_t tag[TAG];
	gfshare_ctx *g;
	int ok;

	for (i = 0; i < v->count; i++)
		nrs[i] = (unsigned char)v->shares[i].index;
	/* gfshare_ctx_free() scrambles its buffers with gfshare_fill_rand. */
	gfshare_fill_rand = fill_rand;
	g = gfshare_ctx_init_dec(nrs, (unsigned)v->count, (unsigned)len);
	if (!g)
		return hsmca_error_set(err, "libgfshare: cannot make a recombination context");
	for (i = 0; i < v->count; i++)
		gfshare_ctx_dec_giveshare(g, (unsigned char)i, v->shares[i].y);
	gfshare_ctx_dec_extract(g, v->secret);
	for (i = 0; i < v->count; i++)
		gfshare_ctx_dec_giveshare(g, (unsigned char)i, zero); /* wipe its copies */
	gfshare_ctx_free(g);
	compute_tag(s0->role, s0->token, s0->set, s0->m, s0->n, v->secret, body, tag);
	ok = CRYPTO_memcmp(tag, v->secret + body, TAG) == 0;
	plen = v->secret[0];
	hsmca_wipe(tag, sizeof(tag));
	if (!ok || plen == 0 || plen >= sizeof(pin->value) || 1 + plen > body - SALT)
		return hsmca_error_set(err, "the shares do not reconstruct the PIN (one of them was "
					    "altered, or they come from different splits); nothing was "
					    "sent to the token");
	memcpy(pin->value, v->secret + 1, plen);
	pin->value[plen] = '\0';
	pin->len = plen;
	hsmca_wipe(tag, sizeof(tag));
	return 0;
}

int hsmca_pinshare_read(const char *spec, const char *role, struct hsmca_pin *pin,
			hsmca_error *err)
{
	struct vault *v = vault_new(err);
	struct hsmca_pinshare_use use;
	size_t i;
	int ret = -1;

	if (!v)
		return -1;
	if (mlock(pin, sizeof(*pin)) != 0) {
		hsmca_error_errno(err, "cannot lock memory for the PIN");
		goto out;
	}
	if (strcmp(spec, "tty") == 0 ? shares_from_tty(v, role, err) != 0
				     : shares_from_dir(v, spec, role, err) != 0)
		goto out;
	if (v->count == 0) {
		hsmca_error_set(err, "no %s PIN share found in %s", role,
				strcmp(spec, "tty") == 0 ? "what was typed" : spec);
		goto out;
	}
	memset(&use, 0, sizeof(use));
	for (i = 0; i < v->count; i++) {
		size_t l = strlen(use.indices);

		snprintf(use.indices + l, sizeof(use.indices) - l, "%s%u", i ? "," : "",
			 v->shares[i].index);
	}
	if (v->count < v->shares[0].m) {
		hsmca_error_set(err, "only %zu of the %u shares needed were given (share%s %s); nothing "
				     "was sent to the token",
				v->count, v->shares[0].m, v->count == 1 ? "" : "s", use.indices);
		goto out;
	}
	if (reconstruct(v, pin, err) != 0)
		goto out;
	snprintf(use.role, sizeof(use.role), "%s", role);
	snprintf(use.token, sizeof(use.token), "%s", v->shares[0].token);
	snprintf(use.set, sizeof(use.set), "%s", v->shares[0].set);
	use.m = v->shares[0].m;
	use.n = v->shares[0].n;
	last_use = use;
	last_valid = true;
	ret = 0;
out:
	if (ret != 0)
		hsmca_error_prefix(err, "pin source shares:%s", spec);
	vault_free(v);
	return ret;
}

bool hsmca_pinshare_last(struct hsmca_pinshare_use *out)
{
	if (last_valid && out)
		*out = last_use;
	return last_valid;
}
