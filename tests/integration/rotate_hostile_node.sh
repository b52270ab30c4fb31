#!/usr/bin/env bash
# Issue 11, item 3: a Talos node that answers Get(MachineConfig) with a
# hostile document — a YAML alias bomb, or 200 KB of nested flow collections —
# stops the rotation with a clear error naming the problem, at once rather
# than hanging (no time is asserted: the parsers are linear by construction,
# docs/security.md); the rotation stays resumable, and once the node answers
# normally again --resume finishes it.  The node file and talosconfig bombs
# are in it/hostile_host and unit/test_ybound.
# Library: rotate_basic.sh (the SIMULATED cluster, tests/doubles/).
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

rot_setup
addr() { sed -n 's/^# talm: nodes=\["\([^"]*\)".*/\1/p' "$PROJECT/nodes/$1.yaml"; }
W2=$(addr w2)

status_check() { # status_check WHAT: active, not running, trust-new not done, nothing after it
	it_ok "$HSMCA" --json rotate status >"$WORK/st.json"
	"$PY" - "$WORK/st.json" <<'PYEOF' && it_pass "$1: the rotation is journaled as unfinished (resumable)" ||
import json, sys
s = json.load(open(sys.argv[1])); st = {x["step"]: x for x in s["steps"]}
assert s["active"] and not s["running"], s
assert st["trust-new"]["state"] in ("pending", "begun"), st["trust-new"]
assert all(st[k]["state"] == "pending" for k in ("issue", "verify-new", "distrust-old", "prove-revoked", "retire"))
PYEOF
		it_fail "$1: status $(cat "$WORK/st.json")"
}

rc=0; HSMCA_FAULT=trust-new:before rot_rotate kill || rc=$?
it_assert_eq 137 "$rc" "rotation killed at the start of trust-new"

rot_fault w2 hostile_config=alias_bomb
rot_expect 1 bomb-resume rotate-ca --resume --dry-run=false
grep -q "YAML aliases are not accepted" "$ROT_ERR" && grep -qF "$W2" "$ROT_ERR" &&
	it_pass "alias bomb from w2: refused, naming the node and the reason" ||
	it_fail "alias bomb message: $(cat "$ROT_ERR")"
status_check "after the alias bomb"

rot_fault w2 hostile_config=deep_flow
# 200 KB from a Python double on a loaded machine: a deadline that is not
# what this checks.
HSMCA_TALOS_DEADLINE=30 rot_expect 1 flow-resume rotate-ca --resume --dry-run=false
grep -q "flow collections nested deeper than 64 levels" "$ROT_ERR" && grep -qF "$W2" "$ROT_ERR" &&
	it_pass "200 KB of nested flow from w2: refused, naming the node and the reason" ||
	it_fail "nested flow message: $(cat "$ROT_ERR")"
status_check "after the nested flow"

rot_fault w2 clear=1
rot_expect 0 resume rotate-ca --resume --dry-run=false
G1=$(rot_fp talos-access-g1)
rot_check_accepted_exactly "$G1"
rot_probe "$TC" ok
rot_check_oracle
it_summary
