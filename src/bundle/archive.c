/* Bundles as ustar files (POSIX.1-1988 tar), read and written here: only
 * regular files with plain names, sizes bounded, checksums checked; written
 * atomically with fixed owner, mode and time.  No libarchive: see
 * docs/dependencies.md. */
#include "bundle/bundle.h"

#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"
#include "common/sha2.h"
#include "common/util.h"

void hsmca_bundle_sha256(const void *data, size_t len, char out[65])
{
	uint8_t md[32];

	hsmca_sha2(256, data, len, md);
	hsmca_hex(md, sizeof(md), out);
}

void hsmca_bundle_clear(struct hsmca_bundle *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++)
		free(b->files[i].data);
	free(b->files);
	b->files = NULL;
	b->n = 0;
}

const struct hsmca_bundle_file *hsmca_bundle_get(const struct hsmca_bundle *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->files[i].name, name) == 0)
			return &b->files[i];
	return NULL;
}

/* [A-Za-z0-9._-]+ with at most one '/', no component "." or "..". */
static bool name_ok(const char *name)
{
	const char *p, *slash = strchr(name, '/');
	size_t len = strlen(name);

	if (len == 0 || len >= sizeof(((struct hsmca_bundle_file *)0)->name) || name[0] == '.' ||
	    name[0] == '/' || name[len - 1] == '/' || (slash && strchr(slash + 1, '/')) ||
	    (slash && slash[1] == '.') || strstr(name, ".."))
		return false;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-' || *p == '/'))
			return false;
	return true;
}

int hsmca_bundle_add(struct hsmca_bundle *b, const char *name, const void *data, size_t len,
		     hsmca_error *err)
{
	struct hsmca_bundle_file *f;

	if (!name_ok(name))
		return hsmca_error_set(err, "bundle member name '%s' is not allowed", name);
	if (hsmca_bundle_get(b, name))
		return hsmca_error_set(err, "bundle member %s appears twice", name);
	if (b->n >= HSMCA_BUNDLE_MAX_FILES)
		return hsmca_error_set(err, "more than %d files in a bundle", HSMCA_BUNDLE_MAX_FILES);
	f = realloc(b->files, (b->n + 1) * sizeof(*f));
	if (!f)
		return hsmca_error_set(err, "out of memory");
	b->files = f;
	f = &b->files[b->n];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->data = malloc(len + 1);
	if (!f->data)
		return hsmca_error_set(err, "out of memory");
	memcpy(f->data, data, len);
	f->data[len] = '\0'; /* text members can be read as strings */
	f->len = len;
	b->n++;
	return 0;
}

/* ustar (POSIX.1-1988) header fields used here; the rest stays zero. */
#define BLK 512

static unsigned long long octal(const uint8_t *p, size_t n, bool *ok)
{
	unsigned long long v = 0;
	size_t i = 0;

	while (i < n && p[i] == ' ')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v >> 60) {
			*ok = false;
			return 0;
		}
		v = v * 8 + (unsigned)(p[i] - '0');
	}
	for (; i < n; i++)
		if (p[i] != ' ' && p[i] != '\0')
			*ok = false;
	return v;
}

static bool zero_block(const uint8_t *p)
{
	size_t i;

	for (i = 0; i < BLK; i++)
		if (p[i])
			return false;
	return true;
}

int hsmca_bundle_read(const char *path, struct hsmca_bundle *out, hsmca_error *err)
{
	struct hsmca_bundle b = { NULL, 0 };
	uint8_t *buf = NULL;
	size_t len = 0, off = 0;
	int ret = -1;

	if (hsmca_read_file(path, HSMCA_BUNDLE_MAX_BYTES, &buf, &len, err) != 0)
		return hsmca_error_prefix(err, "bundle %s", path);
	for (;;) {
		const uint8_t *h = buf + off;
		unsigned long long size, sum, want = 0;
		char name[101];
		bool ok = true;
		size_t i;

		if (len - off < BLK) {
			hsmca_error_set(err, "bundle %s: truncated (no end-of-archive blocks)", path);
			goto out;
		}
		if (zero_block(h))
			break; /* end of archive */
		for (i = 0; i < BLK; i++)
			want += (i >= 148 && i < 156) ? ' ' : h[i];
		sum = octal(h + 148, 8, &ok);
		size = octal(h + 124, 12, &ok);
		if (!ok || sum != want || memcmp(h + 257, "ustar", 5) != 0) {
			hsmca_error_set(err, "bundle %s: not a ustar archive (bad header at byte %zu)", path,
					off);
			goto out;
		}
		if (h[345] != '\0') {
			hsmca_error_set(err, "bundle %s: member names with a prefix are not used by bundles",
					path);
			goto out;
		}
		memcpy(name, h, 100);
		name[100] = '\0';
		off += BLK;
		if (size > len - off) {
			hsmca_error_set(err, "bundle %s: member %s is truncated", path, name);
			goto out;
		}
		if (h[156] == '5' && size == 0) {
			/* a directory entry: nothing to keep */
		} else if (h[156] != '0' && h[156] != '\0') {
			hsmca_error_set(err, "bundle %s: member %s is not a regular file (type '%c')", path,
					name, h[156] ? h[156] : '0');
			goto out;
		} else if (hsmca_bundle_add(&b, name, buf + off, (size_t)size, err) != 0) {
			hsmca_error_prefix(err, "bundle %s", path);
			goto out;
		}
		off += ((size_t)size + BLK - 1) / BLK * BLK;
		if (off > len) {
			hsmca_error_set(err, "bundle %s: member %s is truncated", path, name);
			goto out;
		}
	}
	*out = b;
	b.files = NULL;
	b.n = 0;
	ret = 0;
out:
	free(buf);
	hsmca_bundle_clear(&b);
	return ret;
}

int hsmca_bundle_write(const char *path, const struct hsmca_bundle *b, hsmca_error *err)
{
	size_t cap = 3 * BLK, used = 0, i;
	uint8_t *buf;
	int ret;

	for (i = 0; i < b->n; i++)
		cap += BLK + (b->files[i].len + BLK - 1) / BLK * BLK;
	cap = (cap + 10239) / 10240 * 10240; /* whole 10 KiB records, as tar writes */
	buf = calloc(1, cap);
	if (!buf)
		return hsmca_error_set(err, "out of memory");
	for (i = 0; i < b->n; i++) {
		const struct hsmca_bundle_file *f = &b->files[i];
		uint8_t *h = buf + used;
		unsigned sum = 0;
		size_t k;

		if (strlen(f->name) > 99) {
			free(buf);
			return hsmca_error_set(err, "bundle member name %s is too long", f->name);
		}
		/* Fixed owner, mode and time: the same files give the same bytes. */
		memcpy(h, f->name, strlen(f->name));
		snprintf((char *)h + 100, 8, "%07o", 0644);
		snprintf((char *)h + 108, 8, "%07o", 0);
		snprintf((char *)h + 116, 8, "%07o", 0);
		snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)f->len);
		snprintf((char *)h + 136, 12, "%011o", 0);
		h[156] = '0';
		memcpy(h + 257, "ustar", 6);
		memcpy(h + 263, "00", 2);
		memcpy(h + 265, "hsmca", 5);
		memcpy(h + 297, "hsmca", 5);
		memset(h + 148, ' ', 8);
		for (k = 0; k < BLK; k++)
			sum += h[k];
		snprintf((char *)h + 148, 8, "%06o", sum);
		h[155] = ' ';
		used += BLK;
		memcpy(buf + used, f->data, f->len);
		used += (f->len + BLK - 1) / BLK * BLK;
	}
	ret = hsmca_write_atomic(path, buf, cap, 0644, err);
	free(buf);
	return ret;
}
