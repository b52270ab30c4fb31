/* Custom certificate profiles: YAML files in <home>/profiles/<name>.yaml.
 *
 * This module only reads and validates the file into a plain struct; the
 * profile engine turns a hsmca_profile_def into certificate content.  The
 * loader is strict like the ceremony file (src/yaml/ytree.h): unknown and
 * duplicate keys, wrong types and contradictions are errors with file:line.
 *
 *   version: 1                      # required, must be 1
 *   name: etcd-peer                 # required, = the file's base name
 *   description: "etcd peer certs"  # optional
 *   ca: {path_len: 0}               # optional; present = CA profile
 *   key_usage: [digitalSignature, keyEncipherment]   # required, non-empty
 *   extended_key_usage: [serverAuth, clientAuth]     # optional
 *   validity: {max: 1y, default: 90d}                # max required; default = max
 *   san: {allowed: [dns, ip, uri, email], required: false}  # optional
 *   subject: {cn: fixed-cn, o: [system:masters], o_from_request: false}  # optional
 *   min_rsa_bits: 2048              # optional; default 2048, 3072 for a CA
 *
 * key_usage names: digitalSignature, contentCommitment (or nonRepudiation),
 * keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign.
 * extended_key_usage names: serverAuth, clientAuth, codeSigning,
 * emailProtection, OCSPSigning, timeStamping. */
#ifndef HSMCA_YAML_PROFILE_YAML_H
#define HSMCA_YAML_PROFILE_YAML_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Largest profile file accepted, in bytes. */
#define HSMCA_PROFILE_MAX_BYTES (64 * 1024)

#define HSMCA_KU_DIGITAL_SIGNATURE  (1u << 0)
#define HSMCA_KU_CONTENT_COMMITMENT (1u << 1)
#define HSMCA_KU_KEY_ENCIPHERMENT   (1u << 2)
#define HSMCA_KU_DATA_ENCIPHERMENT  (1u << 3)
#define HSMCA_KU_KEY_AGREEMENT      (1u << 4)
#define HSMCA_KU_KEY_CERT_SIGN      (1u << 5)
#define HSMCA_KU_CRL_SIGN           (1u << 6)

#define HSMCA_EKU_SERVER_AUTH      (1u << 0)
#define HSMCA_EKU_CLIENT_AUTH      (1u << 1)
#define HSMCA_EKU_CODE_SIGNING     (1u << 2)
#define HSMCA_EKU_EMAIL_PROTECTION (1u << 3)
#define HSMCA_EKU_OCSP_SIGNING     (1u << 4)
#define HSMCA_EKU_TIME_STAMPING    (1u << 5)

#define HSMCA_SAN_DNS   (1u << 0)
#define HSMCA_SAN_IP    (1u << 1)
#define HSMCA_SAN_URI   (1u << 2)
#define HSMCA_SAN_EMAIL (1u << 3)

#define HSMCA_PROFILE_MAX_O 8

struct hsmca_profile_def {
	char name[64];
	char description[160];
	bool is_ca;
	int path_len;                     /* -1 none */
	unsigned key_usage;               /* HSMCA_KU_* */
	unsigned ext_key_usage;           /* HSMCA_EKU_* */
	int64_t max_validity;             /* seconds */
	int64_t default_validity;         /* seconds, <= max_validity */
	unsigned san_kinds;               /* HSMCA_SAN_* allowed */
	bool require_san;
	char subject_cn[128];             /* "" = take the CSR's CN; otherwise fixed */
	char subject_o[HSMCA_PROFILE_MAX_O][64];
	int n_subject_o;                  /* fixed O values; 0 -> see o_from_csr */
	bool o_from_csr;                  /* allow O values from CSR / --subject
					   * (never together with fixed O values) */
	int min_rsa_bits;                 /* 2048 default, 3072 for a CA */
	/* "" or the purpose of the CAs this profile is meant for
	 * ("kubernetes-access", "talos-access"): a CA marked for a purpose
	 * issues only with that purpose's profiles (issue.c). */
	char purpose[24];
};

/* Load and validate the profile file at `path` (at most
 * HSMCA_PROFILE_MAX_BYTES; the file name must end in ".yaml" and its base
 * name must equal the `name` inside).  Checks: default <= max validity; a
 * CA profile has keyCertSign, a non-CA profile does not; san.required needs
 * at least one allowed kind; no duplicate list entries.
 * Errors read "<path>:<line>: <reason>".  *out is written only on success.
 * Thread-safe (no shared state). */
int hsmca_profile_def_load(const char *path, struct hsmca_profile_def *out, hsmca_error *err);

#endif
