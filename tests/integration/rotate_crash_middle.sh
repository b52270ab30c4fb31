#!/usr/bin/env bash
# Issue 5, item 2 (second part): kill -9 at steps 4-5 (before, between nodes,
# after), then --resume: the same end state; invariants at each kill point.
# See rotate_crash_early.sh; library: rotate_basic.sh.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

rot_crash_suite verify-new:before+distrust-old:0 verify-new:2+distrust-old:4 \
	verify-new:after+distrust-old:before+distrust-old:after
it_summary
