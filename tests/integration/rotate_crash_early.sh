#!/usr/bin/env bash
# Issue 5, item 2 (first part): kill -9 injected (HSMCA_FAULT) at steps 1-3,
# before and after each and between nodes, then --resume: the same end state
# every time (only the new access CA trusted, new talosconfig accepted and the
# old one refused on all 6 nodes, old key destroyed only after prove-revoked
# finished everywhere, audit log complete); at every kill point the old key is
# still there and no node trusts neither CA.  Each rotation is killed at
# several points in turn (the later ones while it resumes: a crash during a
# resume), which keeps the run short under AddressSanitizer; every point is
# checked on its own.  Library: rotate_basic.sh.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

rot_crash_suite prepare:before+trust-new:1+issue:3 prepare:after+trust-new:4+issue:after \
	trust-new:before+trust-new:after+issue:before
it_summary
