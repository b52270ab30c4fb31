/* A distributed lock on a coordination.k8s.io/v1 Lease (docs/rotation.md,
 * "The Lease lock").
 *
 * acquire   GET the Lease.  Missing: create it (a 409 AlreadyExists means a
 *           concurrent run created it first: refused, naming that run).  Held
 *           (holderIdentity set) and renewTime + leaseDurationSeconds still in
 *           the future by OUR clock: refused, naming the holder and when the
 *           Lease expires.  Expired or released (holder ""): taken over with a
 *           PUT carrying the resourceVersion that was read, so a 409 Conflict
 *           means another run took it between our GET and PUT: refused,
 *           naming the new holder.
 * renew     a thread with its own client (hsmca_kube is one-thread) PUTs a new
 *           renewTime every duration/3 with the resourceVersion of its last
 *           write.  A 409 (someone else wrote the Lease) or no successful
 *           renewal before the Lease would expire marks it LOST; the holder
 *           checks hsmca_lease_check() before each step that changes anything.
 * release   the holder is cleared (holderIdentity "", leaseDurationSeconds 1,
 *           as client-go's ReleaseOnCancel does) with the resourceVersion of
 *           our last write, so a Lease taken over meanwhile is left alone.
 *
 * Errors: refused acquisitions have code EWOULDBLOCK; API errors keep the
 * Kubernetes client's codes (docs in kube/kubeclient.h).  A lost Lease is
 * code ENOLCK.  Never prints. */
#ifndef HSMCA_FLEET_LEASE_H
#define HSMCA_FLEET_LEASE_H

#include <stddef.h>

#include "common/error.h"

#define HSMCA_LEASE_DEFAULT_DURATION_S 60
#define HSMCA_LEASE_IDENTITY_MAX 192

typedef struct hsmca_lease hsmca_lease;

typedef struct hsmca_lease_opts {
	const char *kubeconfig; /* file; loaded anew for the renewal thread */
	const char *namespace;
	const char *name;       /* Lease name, e.g. "hsmca-rotate-<tcp>" */
	const char *identity;   /* NULL: "<host>/<pid>/<random run id>" */
	int duration_s;         /* 0: HSMCA_LEASE_DEFAULT_DURATION_S */
	const char *reclaim;    /* NULL, or an identity the caller KNOWS is dead (a
				 * run it succeeded, e.g. proven by a local lock):
				 * a Lease held by it is taken over at once */
} hsmca_lease_opts;

/* Take the Lease and start renewing it.  *out only on success; free with
 * hsmca_lease_release() or hsmca_lease_free(). */
int hsmca_lease_acquire(const hsmca_lease_opts *o, hsmca_lease **out, hsmca_error *err);

/* 0 while the Lease is ours; -1 with code ENOLCK (and why) once lost. */
int hsmca_lease_check(hsmca_lease *l, hsmca_error *err);

/* Our holderIdentity (borrowed). */
const char *hsmca_lease_identity(const hsmca_lease *l);

/* Stop renewing, clear the holder (resourceVersion precondition), free.
 * NULL is accepted.  The lease is freed also when the release fails. */
int hsmca_lease_release(hsmca_lease *l, hsmca_error *err);

/* Stop renewing and free without releasing (the Lease expires by itself). */
void hsmca_lease_free(hsmca_lease *l);

/* "<host>/<pid>/<16 hex random>" into buf. */
int hsmca_lease_make_identity(char *buf, size_t len, hsmca_error *err);

/* RFC 3339 MicroTime ("2026-12-07T23:31:06.123456Z") of a time; parse one
 * (fractions and offsets accepted) into microseconds since the epoch. */
void hsmca_lease_format_time(long long usec, char out[static 32]);
int hsmca_lease_parse_time(const char *s, long long *usec);

#endif
