/* Request and response bundles for air-gapped signing (docs/ceremony.md).
 *
 * A bundle is one ustar file (POSIX tar, archive.c) of regular files with flat,
 * plain names, its first member manifest.json:
 *
 *   request:  manifest.json, csr/NNNN.pem
 *   response: manifest.json, manifest.sig, certs/NNNN.pem, chain.pem,
 *             crl.pem, audit.jsonl
 *
 * The request manifest lists every CSR with its SHA-256 and its key's
 * SubjectPublicKeyInfo SHA-256; its own SHA-256 names the request.  The
 * response manifest lists every other file's SHA-256, which CSR each
 * certificate answers, which were refused and why, the request's id and
 * SHA-256 and the audit checkpoint of the signing; manifest.sig is the
 * issuing CA's signature over it, made in the token.
 *
 * The library never prints: the review table and the confirmation are the
 * CLI's (callbacks). */
#ifndef HSMCA_BUNDLE_H
#define HSMCA_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "state/session.h"

#define HSMCA_BUNDLE_MAX_FILES 10000
#define HSMCA_BUNDLE_MAX_BYTES (256u << 20)

/* ---- the archive (archive.c) ---- */

struct hsmca_bundle_file {
	char name[128];
	uint8_t *data;
	size_t len;
};

struct hsmca_bundle {
	struct hsmca_bundle_file *files;
	size_t n;
};

/* Read a bundle: a tar of regular files only, names of [A-Za-z0-9._-] in
 * at most one directory level (no "..", no absolute paths, no links, no
 * duplicates), within the size limits.  Anything else is refused. */
int hsmca_bundle_read(const char *path, struct hsmca_bundle *out, hsmca_error *err);
/* Write the files as a ustar archive, atomically (mode 0644). */
int hsmca_bundle_write(const char *path, const struct hsmca_bundle *b, hsmca_error *err);
/* Add a copy of data under name. */
int hsmca_bundle_add(struct hsmca_bundle *b, const char *name, const void *data, size_t len,
		     hsmca_error *err);
const struct hsmca_bundle_file *hsmca_bundle_get(const struct hsmca_bundle *b, const char *name);
void hsmca_bundle_clear(struct hsmca_bundle *b);

/* Lower-case hex SHA-256. */
void hsmca_bundle_sha256(const void *data, size_t len, char out[65]);

/* ---- requests (request.c) ---- */

struct hsmca_bundle_csr {
	unsigned index;	     /* 1-based */
	char file[128];	     /* csr/NNNN.pem in the bundle */
	char source[128];    /* its file name in --csr-dir */
	char sha256[65];     /* of the file */
	char spki_sha256[65];
	char subject[256];
	char key_type[16];
	char sans[512];	     /* "DNS:a, IP:1.2.3.4" */
	const uint8_t *data; /* into the bundle */
	size_t len;
};

struct hsmca_bundle_request {
	char id[33];
	char sha256[65]; /* of manifest.json: names the request */
	char ca[64];
	char profile[64];
	int64_t validity;
	char note[512];
	char requester[128];
	char time[21];
	struct hsmca_bundle_csr *csrs;
	size_t n;
};

/* Build a request bundle from every regular file in csr_dir (sorted by
 * name), each checked as a CSR (decoded, parsed, its signature verified).
 * A file that is not a valid CSR refuses the whole request, named.
 * `manifest_out` (may be NULL) gets a malloc'ed copy of manifest.json, for
 * the online side to keep. */
int hsmca_bundle_request_make(const char *ca, const char *profile, int64_t validity,
			      const char *note, const char *csr_dir, const char *out,
			      char **manifest_out, struct hsmca_bundle_request *req,
			      hsmca_error *err);

/* Parse and check a request bundle: the manifest's shape, every listed CSR
 * file present with its SHA-256, no file unlisted, every CSR valid (its
 * signature verified) with the key the manifest names.  req->csrs point
 * into b.  Free with hsmca_bundle_request_clear(). */
int hsmca_bundle_request_load(const struct hsmca_bundle *b, struct hsmca_bundle_request *req,
			      hsmca_error *err);
/* The same from a kept manifest.json alone (no CSR bytes). */
int hsmca_bundle_request_parse(const char *manifest, size_t len, struct hsmca_bundle_request *req,
			       hsmca_error *err);
void hsmca_bundle_request_clear(struct hsmca_bundle_request *req);

/* ---- responses (response.c, verify.c) ---- */

/* One CSR's fate in a signing. */
struct hsmca_bundle_result {
	bool issued;
	char serial[41];
	char reason[512]; /* when refused */
};

struct hsmca_bundle_sign_ops {
	/* Show what is about to be signed and decide; return true to go on.
	 * NULL means go on. */
	bool (*review)(void *arg, const struct hsmca_bundle_request *req);
	/* Called after each CSR, in order. */
	void (*result)(void *arg, const struct hsmca_bundle_csr *csr,
		       const struct hsmca_bundle_result *r);
	void *arg;
};

/* Sign a request in the token of `s` (logged in): check it, review, issue
 * each CSR under the request's CA and profile with hsmca_issue_one (the
 * profile's policy; a refused CSR is listed with its reason), sign the CA's
 * next CRL, end the signing in the audit log with a signed checkpoint, and
 * write the response bundle: certificates, chain, CRL, the audit lines of
 * this signing with their checkpoint, and a manifest signed by the issuing
 * CA in the token.  Fails before issuing anything when the request does not
 * check, the CA or its key is missing, or the review declines (*declined
 * set). */
int hsmca_bundle_sign(struct hsmca_session *s, const char *req_path, const char *out,
		      const struct hsmca_bundle_sign_ops *ops, size_t *issued, size_t *refused,
		      bool *declined, hsmca_error *err);

struct hsmca_bundle_verified {
	char request_id[33];
	char ca[64];
	size_t issued, refused;
	size_t audit_first, audit_last, checkpoint;
	bool checkpoint_verified;
};

/* Verify a response against the anchor certificate (PEM) and the request:
 * chain.pem's issuing CA chains to the anchor; manifest.sig verifies with
 * its key; the manifest answers this request (its SHA-256); every file is
 * listed and hashes as listed; each certificate answers a CSR of the
 * request with that CSR's key, is signed by the CA, chains to the anchor,
 * and each CSR is answered once (issued or refused); the CRL verifies; the
 * audit excerpt chains to its checkpoint, which is the one the manifest
 * names, and, with audit_anchor, its signature verifies.  The first
 * failure names the file and the reason. */
int hsmca_bundle_verify(const struct hsmca_bundle *resp, const char *anchor_pem,
			const struct hsmca_bundle_request *req, const char *audit_anchor,
			struct hsmca_bundle_verified *out, hsmca_error *err);

/* The request id of a response, read from its manifest (unverified). */
int hsmca_bundle_response_request_id(const struct hsmca_bundle *resp, char id[33],
				     hsmca_error *err);

#endif
