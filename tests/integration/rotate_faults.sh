#!/usr/bin/env bash
# Issue 5, item 3 and the roll-back paths, against the SIMULATED cluster:
#   - a node that is down during step 2 stops the rotation safely: it stays
#     resumable, the credentials and the old key are untouched, no node
#     trusts neither CA; once the node is back, --resume finishes it;
#   - a node whose ApplyConfiguration fails (INTERNAL) stops step 2; --abort
#     removes the new CA from every node, restores node files byte for byte,
#     destroys the new key, keeps the old talosconfig;
#   - --abort after step 3 replaced the talosconfig restores one signed by the
#     old access CA; --abort is refused once step 5 began, and on a first
#     adoption whose talosconfig was already replaced;
#   - roles are never guessed: a plan that calls a worker a control plane is
#     refused by the preflight, and nothing changes.
# Library: rotate_basic.sh.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

rot_setup
rot_write_checker
addr() { sed -n 's/^# talm: nodes=\["\([^"]*\)".*/\1/p' "$PROJECT/nodes/$1.yaml"; }
CP1=$(addr cp1) CP2=$(addr cp2) CP3=$(addr cp3) W1=$(addr w1) W2=$(addr w2) W3=$(addr w3)
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- roles are never guessed
rot_snapshot b0
rot_expect 1 role-dry rotate-ca --talosconfig "$TC" --control-plane-nodes "$CP1,$W1" \
	--worker-nodes "$CP2,$CP3,$W2,$W3"
grep -q "node $W1: machine.type is worker but the plan says controlplane" "$ROT_ERR" &&
	it_pass "dry run: role mismatch named" || it_fail "role mismatch message: $(cat "$ROT_ERR")"
rot_expect 1 role-real rotate-ca --talosconfig "$TC" --control-plane-nodes "$CP1,$W1" \
	--worker-nodes "$CP2,$CP3,$W2,$W3" --dry-run=false
grep -q "preflight: .*machine.type is worker" "$ROT_ERR" && it_pass "real run refused by the preflight" ||
	it_fail "preflight message: $(cat "$ROT_ERR")"
rot_snapshot a0
cmp -s "$WORK/snap-b0" "$WORK/snap-a0" && it_pass "refused plans changed nothing" ||
	{ diff "$WORK/snap-b0" "$WORK/snap-a0" >&2 || true; it_fail "a refused plan changed something"; }

# --- a first adoption whose talosconfig was replaced cannot be aborted
rc=0; HSMCA_FAULT=verify-new:before rot_rotate adopt-kill || rc=$?
it_assert_eq 137 "$rc" "adoption killed before verify-new"
rot_expect 1 adopt-abort rotate-ca --abort --dry-run=false
grep -q "first adoption already replaced" "$ROT_ERR" && it_pass "abort refused: would lock the operator out" ||
	it_fail "adoption abort message: $(cat "$ROT_ERR")"
rot_expect 0 adopt-resume rotate-ca --resume --dry-run=false
G1=$(rot_fp talos-access-g1)
rot_check_accepted_exactly "$G1"
rot_probe "$TC" ok
cp "$TC" "$WORK/g1.tc"

# --- node down during step 2
rc=0; HSMCA_FAULT=trust-new:before rot_rotate down-kill || rc=$?
it_assert_eq 137 "$rc" "rotation killed at the start of trust-new"
rot_fault w2 down=1
rc=0; HSMCA_TALOS_DEADLINE=2 rot down-resume rotate-ca --resume --dry-run=false || rc=$?
it_assert_eq 1 "$rc" "resume with w2 down: stops with exit 1"
grep -q "$W2" "$ROT_ERR" && grep -q "resume --dry-run=false" "$ROT_ERR" &&
	it_pass "the error names the node and how to continue" || it_fail "down message: $(cat "$ROT_ERR")"
"$HSMCA" --json rotate status >"$WORK/st.json" 2>/dev/null
"$PY" - "$WORK/st.json" "$W2" <<'EOF' && it_pass "status: step 2 begun, w2 not done, error journaled, nothing after step 2" || it_fail "status after the failure: $(cat "$WORK/st.json")"
import json, sys
s = json.load(open(sys.argv[1])); st = {x["step"]: x for x in s["steps"]}
assert s["active"] and not s["running"]
assert st["prepare"]["state"] == "done" and st["trust-new"]["state"] == "begun"
assert 3 <= st["trust-new"]["nodes_done"] < 6, st["trust-new"]
assert all(st[k]["state"] == "pending" for k in ("issue", "verify-new", "distrust-old", "prove-revoked", "retire"))
assert sys.argv[2] in s["last_error"], s["last_error"]
EOF
G2=$(rot_fp talos-access-g2)
bad=$(rot_accepted | awk -v o="$G1" -v n="$G2" -v w2=w2 '
	($1 == w2 && $2 != o) || ($1 != w2 && index($2, o) == 0) { print }')
[[ -z "$bad" ]] && it_pass "w2 still accepts exactly the old CA; every node still accepts the old CA" ||
	it_fail "accepted CAs after the failure: $bad"
rot_check_never_neither "$G1" "$G2"
it_assert_eq "$(sha "$WORK/g1.tc")" "$(sha "$TC")" "talosconfig untouched"
it_assert_eq "talos-access-g1-key talos-access-g2-key" "$(rot_keys)" "old and new keys both in the token"
rot_expect 1 down-new -f "$NODEFILE" rotate-ca --kubernetes=false --dry-run=false
grep -q "already in progress" "$ROT_ERR" && it_pass "a new rotation is refused while one is unfinished" ||
	it_fail "new rotation message: $(cat "$ROT_ERR")"
rot_snapshot b1
rot_expect 0 down-dry-resume rotate-ca --resume
grep -q "DRY RUN" "$ROT_OUT" && grep -q "trust-new      begun" "$ROT_OUT" &&
	it_pass "--resume without --dry-run=false only shows where it is" || it_fail "dry resume output"
rot_snapshot a1
cmp -s "$WORK/snap-b1" "$WORK/snap-a1" && it_pass "dry-run resume changed nothing" ||
	{ diff "$WORK/snap-b1" "$WORK/snap-a1" >&2 || true; it_fail "dry-run resume changed something"; }
# A torn last line (a write cut short by a crash) claiming w2 done is ignored.
W2IDX=$("$PY" -c 'import json,sys
p=json.loads(open(sys.argv[1]).readline())["plan"]
print([n["addr"] for n in p["nodes"]].index(sys.argv[2]))' "$HSMCA_HOME/rotate/journal" "$W2")
printf '{"ev":"node-end","step":1,"node":%s,"seq":999' "$W2IDX" >>"$HSMCA_HOME/rotate/journal"
rot_expect 0 torn-status rotate status
grep -q "trust-new      begun" "$ROT_OUT" && it_pass "status reads the journal past a torn last line" ||
	it_fail "status with a torn line: $(cat "$ROT_OUT" "$ROT_ERR")"
rot_fault w2 down=0
rot_expect 0 down-resume2 rotate-ca --resume --dry-run=false
grep -q "trust-new\] .* worker $W2: new access CA added" "$ROT_OUT" &&
	it_pass "resume redid w2 (the torn node-end did not count)" || it_fail "w2 not redone: $(cat "$ROT_OUT")"
"$PY" -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)
assert "\"seq\":999" not in open(sys.argv[1]).read()' "$HSMCA_HOME/rotate/history/$(rot_last_id).journal" &&
	it_pass "archived journal: whole JSON lines only, torn tail cut" || it_fail "archived journal has a bad line"
rot_check_end_fast talos-access-g1 talos-access-g2 "$WORK/g1.tc"
cp "$TC" "$WORK/g2.tc"

# --- abort after a failed apply in step 2
(cd "$PROJECT" && it_snapshot_dir nodes) >"$WORK/nodes-before"
rot_fault cp2 apply_internal=1
rc=0; rot_rotate apply-fail || rc=$?
it_assert_eq 1 "$rc" "apply failing on cp2: rotation stops"
grep -q "INTERNAL" "$ROT_ERR" && grep -q "$CP2" "$ROT_ERR" && it_pass "error names cp2 and INTERNAL" ||
	it_fail "apply failure message: $(cat "$ROT_ERR")"
rot_fault cp2 apply_internal=0
rot_expect 0 abort1 rotate-ca --abort --dry-run=false
grep -q "removed the new access CA talos-access-g3 from the accepted CAs of 6 node(s) and 6 node file(s)" "$ROT_OUT" &&
	grep -q "destroyed the new key" "$ROT_OUT" && it_pass "abort says what it did" ||
	it_fail "abort report: $(cat "$ROT_OUT")"
rot_check_accepted_exactly "$G2"
it_assert_eq "talos-access-g2-key" "$(rot_keys)" "abort destroyed the new key, kept the current one"
grep -q '"reason":"aborted"' "$HSMCA_HOME/cas/talos-access-g3/retired.json" &&
	it_pass "talos-access-g3 marked retired (aborted)" || it_fail "g3 retired marker"
it_assert_eq "$(sha "$WORK/g2.tc")" "$(sha "$TC")" "talosconfig untouched by the aborted rotation"
(cd "$PROJECT" && it_snapshot_dir nodes) >"$WORK/nodes-after"
cmp -s "$WORK/nodes-before" "$WORK/nodes-after" && it_pass "node files restored byte for byte" ||
	it_fail "node files differ after abort"
it_assert_eq "talos-access-g2" "$(rot_current)" "g2 stays the access CA"
[[ ! -e "$HSMCA_HOME/rotate/journal" ]] && it_pass "aborted journal archived" || it_fail "journal left"
grep -q '"event":"rotate-abort".*"phase":"end"' "$HSMCA_HOME/audit.log" && it_pass "audit: rotate-abort end" ||
	it_fail "audit lacks the abort"
rot_probe "$TC" ok

# --- abort after step 3 restores a talosconfig of the old CA
rc=0; HSMCA_FAULT=verify-new:before rot_rotate issue-kill || rc=$?
it_assert_eq 137 "$rc" "killed after the talosconfig was replaced"
[[ "$(sha "$TC")" != "$(sha "$WORK/g2.tc")" ]] && it_pass "step 3 had replaced the talosconfig" ||
	it_fail "talosconfig not replaced"
rot_expect 0 abort2 rotate-ca --abort --dry-run=false
grep -q "restored $TC: a new talos-admin credential signed by the old access CA talos-access-g2" "$ROT_OUT" &&
	it_pass "abort restored the talosconfig from the old CA" || it_fail "abort2 report: $(cat "$ROT_OUT")"
rot_check_accepted_exactly "$G2"
rot_check_node_files "$G2"
rot_probe "$TC" ok
it_assert_eq "talos-access-g2-key" "$(rot_keys)" "new key destroyed again"
it_assert_eq "600" "$(stat -c %a "$TC")" "restored talosconfig is 0600"

# --- no abort once distrust-old began
rc=0; HSMCA_FAULT=distrust-old:1 rot_rotate late-kill || rc=$?
it_assert_eq 137 "$rc" "killed inside distrust-old"
rot_expect 1 abort3 rotate-ca --abort --dry-run=false
grep -q "cannot be aborted: step 5 (distrust-old) has begun" "$ROT_ERR" && it_pass "abort refused after step 5 began" ||
	it_fail "abort3 message: $(cat "$ROT_ERR")"
rot_expect 0 late-resume rotate-ca --resume --dry-run=false
rot_check_end_fast talos-access-g2 "$(rot_current)" "$WORK/g2.tc"

rot_check_oracle
rot_save_key "$TC" last
rot_leak_scan
it_summary
