/* Internal to the audit module (audit.c, audit_line.c, audit_verify.c):
 * the line format and the head file, shared by the writer and the verifier. */
#ifndef HSMCA_AUDIT_LINE_H
#define HSMCA_AUDIT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "common/error.h"

#define HSMCA_AUDIT_HASH_HEX 64

/* 64 zeros: the prev of line 1, the hash of "line 0". */
extern const char hsmca_audit_zero_hash[HSMCA_AUDIT_HASH_HEX + 1];

/* What a line says about its place in the chain. */
struct hsmca_audit_rec {
	int64_t seq;
	char prev[HSMCA_AUDIT_HASH_HEX + 1];
};

/* The head file: seq and hash of the last line; {false, 0, zeros} when absent. */
struct hsmca_audit_head {
	bool present;
	size_t seq;
	char hash[HSMCA_AUDIT_HASH_HEX + 1];
};

/* Lower-case hex SHA-256 of `len` bytes. */
int hsmca_audit_sha256_hex(const void *data, size_t len,
			   char out[static HSMCA_AUDIT_HASH_HEX + 1], hsmca_error *err);

/* True if s is exactly 64 lower-case hex digits. */
bool hsmca_audit_is_hash(const char *s);

/* flock(fd, op), retried on EINTR. */
int hsmca_audit_lock(int fd, int op, const char *path, hsmca_error *err);

/* A strict json-c tokener (JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
 * free with json_tokener_free(). */
json_tokener *hsmca_audit_tokener_new(hsmca_error *err);

/* Parse one line (without its newline) and check its shape: a JSON object
 * with exactly the documented fields and types.  Fills rec with its seq and
 * prev.  The chain itself is the caller's business; messages carry no line
 * number, the caller prefixes it. */
int hsmca_audit_line_parse(json_tokener *tok, const char *line, size_t len,
			   struct hsmca_audit_rec *rec, hsmca_error *err);

/* Read <log>.head.  A missing file is not an error: head->present is false
 * and the head is {0, zeros}. */
int hsmca_audit_head_read(const char *head_path, struct hsmca_audit_head *head,
			  hsmca_error *err);

#endif
