#!/usr/bin/env bash
# Issue 5, item 2 (third part): kill -9 at steps 6-7 (before, between nodes,
# between the key's destruction and its retired marker, after), then --resume:
# the same end state.
# See rotate_crash_early.sh; library: rotate_basic.sh.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

rot_crash_suite prove-revoked:before+retire:before prove-revoked:3+retire:destroyed \
	prove-revoked:after+retire:after trust-new:2+prove-revoked:5
it_summary
