#!/usr/bin/env bash
# Issue 13 (and issue 11, the revocation proof) against the Talos API double
# (SIMULATED, tests/doubles/talos_cluster.sh) in a proxied topology: 3
# control planes + 3 workers, each on its own loopback address, and only
# cp1 listening: cp2, cp3 and the workers are reachable only through cp1
# (the endpoint) with `node` metadata, as talosctl reaches them.
#   - the dry run lists all 6 nodes, says how each is reached and which
#     proof the real run will use (fresh direct TLS for cp1, config
#     read-back for the others);
#   - a node reporting Talos v1.6.7: the dry run exits 1 naming the node and
#     the version, and nothing changes;
#   - adoption and a real rotation exit 0; every node's config carries
#     exactly the new access CA; the new talosconfig works for every node
#     through the endpoint (Python grpc, not hsmca) and the old one is
#     refused by the endpoint; the result names the proof per node;
#   - kill -9 at a fixed sequence of points (before step 1, between nodes of
#     steps 2 and 4, before retire; a half key pair left as a kill inside
#     C_GenerateKeyPair leaves it) and --resume reach the same end state; on the way, a
#     node that keeps trusting the removed CA (a "stubborn" apid) stops the
#     rotation in prove-revoked with the old key kept in the token and the
#     journal open, and once the node behaves --resume goes on.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

export TALOS_CLUSTER_PROXIED=1
rot_setup
rot_write_checker
EP=$(sed -n 's/^# talm: .*endpoints=\["\([^"]*\)"\].*/\1/p' "$PROJECT/nodes/w1.yaml")
[[ $EP == 127.0.0.11:* ]] && it_pass "proxied project: endpoint $EP (cp1)" || it_fail "endpoint: $EP"

# --- dry run of the adoption: all 6 nodes, how each is reached, which proof
rot_snapshot before
rot_expect 0 dry-adopt -f "$NODEFILE" rotate-ca --talos=true --kubernetes=false
rot_snapshot after
cmp -s "$WORK/snap-before" "$WORK/snap-after" && it_pass "dry run changed nothing" ||
	it_fail "dry run changed something"
n=0
for ip in 127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.14 127.0.0.15 127.0.0.16; do
	grep -q " $ip" "$ROT_OUT" && n=$((n + 1))
done
it_assert_eq 6 "$n" "dry run lists all 6 nodes"
it_assert_eq 5 "$(grep -c "reached through $EP (node metadata 127.0.0.1[2-6]); proofs: config read back" "$ROT_OUT")" \
	"dry run: 5 nodes reached through the endpoint, proof by config read-back"
it_assert_eq 1 "$(grep -c "reached direct at $EP; proofs: fresh direct TLS" "$ROT_OUT")" \
	"dry run: cp1 (the endpoint) reached directly, proof by a fresh direct TLS connection"

# --- a node at v1.6.7: refused by the dry run and by the real run's preflight
rot_fault w3 version=v1.6.7
rot_snapshot before-old
rot_expect 1 dry-old -f "$NODEFILE" rotate-ca --talos=true --kubernetes=false
grep -q "node 127.0.0.16 runs Talos v1.6.7: accepted CAs .* need Talos v1.7.0 or later" "$ROT_ERR" &&
	it_pass "dry run names the node and its version" || it_fail "old version message: $(cat "$ROT_ERR")"
rot_expect 1 real-old -f "$NODEFILE" rotate-ca --talos=true --kubernetes=false --dry-run=false
grep -q "preflight: node 127.0.0.16 runs Talos v1.6.7" "$ROT_ERR" &&
	it_pass "real run refused by the preflight" || it_fail "real run: $(cat "$ROT_ERR")"
rot_snapshot after-old
cmp -s "$WORK/snap-before-old" "$WORK/snap-after-old" && it_pass "old node: nothing changed" ||
	it_fail "old node: something changed"
rot_fault w3 version=v1.14.0

# --- adoption and a rotation
rot_rotate adopt || { cat "$ROT_ERR" >&2; it_fail "adoption failed"; }
it_pass "adoption: exit 0"
cp "$TC" "$WORK/g1.tc"
rot_rotate rotate || { cat "$ROT_ERR" >&2; it_fail "rotation failed"; }
it_pass "rotation g1 -> g2: exit 0"
it_assert_eq 5 "$(grep -c "prove-revoked\] .*proof: config read back (no direct route to the node): lists talos-access-g2, not talos-access-g1; the endpoint refused" "$ROT_OUT")" \
	"result: 5 nodes proven by config read-back and the endpoint's refusal"
it_assert_eq 1 "$(grep -c "prove-revoked\] .*proof: fresh direct TLS: refused a certificate of talos-access-g1" "$ROT_OUT")" \
	"result: cp1 proven on a fresh direct TLS connection"
rot_check_end_fast talos-access-g1 talos-access-g2 "$WORK/g1.tc"

# --- kill -9 at a fixed sequence of points + --resume, and on the way a
# stubborn node: cp1 keeps trusting the removed CA.  The refusal proof must
# catch it: the rotation stops before retire and the old key stays.
cp "$TC" "$WORK/g2.tc"
rot_killed_at() { # POINT RC: the last run was killed there; invariants hold
	if [[ $2 != 137 ]]; then
		it_fail "HSMCA_FAULT=$1: expected SIGKILL (137), got $2: $(tail -3 "$ROT_ERR")"
		return 1
	fi
	it_pass "HSMCA_FAULT=$1: killed"
	rot_check_killed "$1" talos-access-g2 "$WORK/g2.tc"
}
# Killed before step 1, then the state a kill inside C_GenerateKeyPair
# leaves in SoftHSM2 (issue 13): the new key's PUBLIC object without its
# private key.  The resume must find it by label and ID, destroy it, redo.
rc=0; HSMCA_FAULT=prepare:before rot_rotate kill-prepare || rc=$?
rot_killed_at prepare:before "$rc"
p11() { SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf pkcs11-tool --module "$IT_PKCS11_MODULE" \
	--login --pin "$(cat "$HSMCA_HOME/pins/user.pin")" "$@" >/dev/null 2>&1; }
p11 --keypairgen --key-type EC:prime256v1 --label talos-access-g3-key --id 0badc0de &&
	p11 --delete-object --type privkey --label talos-access-g3-key &&
	SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf it_snapshot_token "$(cat "$HSMCA_HOME/pins/user.pin")" |
	grep -c "label: *talos-access-g3-key" | grep -qx 1 &&
	it_pass "planted: a public key object talos-access-g3-key without its private key" ||
	it_fail "could not plant the half key pair"
rc=0; HSMCA_FAULT=trust-new:2 rot kill-trust-new rotate-ca --resume --dry-run=false || rc=$?
rot_killed_at trust-new:2 "$rc"
"$PY" -c 'import json,sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert any(l["event"] == "destroy" and "talos-access-g3-key (no private key)" in l["object"]
           and l.get("detail", {}).get("objects") == "1" for l in ls)' "$HSMCA_HOME/audit.log" &&
	it_pass "resume destroyed the incomplete key object (audit: destroy, 1 object) and redid step 1" ||
	it_fail "no audit line for the incomplete key object"
rc=0; HSMCA_FAULT=verify-new:4 rot kill-verify-new rotate-ca --resume --dry-run=false || rc=$?
rot_killed_at verify-new:4 "$rc"
rot_fault cp1 stubborn=1
rc=0; rot stubborn rotate-ca --resume --dry-run=false || rc=$?
it_assert_eq 1 "$rc" "rotation with a node that keeps trusting the old CA: exit 1"
# cp1 is also the endpoint: the nodes behind it fail their proof too (the
# endpoint accepts the old credential), whichever is reported first.
grep -Eq "prove-revoked.*(node 127.0.0.11 still accepts a credential signed by the old access CA|its endpoint accepts a certificate of the old access CA)" "$ROT_ERR" &&
	it_pass "stopped in prove-revoked: the old CA is still accepted" || it_fail "stubborn: $(tail -3 "$ROT_ERR")"
# cp1 itself, the only node with a direct route, must have failed its own
# refusal proof on a fresh direct connection (the journal keeps every node's
# failure): the endpoint check of the nodes behind it is not that proof.
"$PY" -c 'import json,sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][1:]
assert any(e.get("ev") == "fail" and e.get("step_name") == "prove-revoked"
           and e.get("addr", "").startswith("127.0.0.11:")
           and "still accepts a credential signed by the old access CA on a fresh connection" in e.get("error", "")
           for e in ev), [e for e in ev if e.get("ev") == "fail"]' "$HSMCA_HOME/rotate/journal" &&
	it_pass "cp1 (direct) failed its own proof: it accepts the old CA on a fresh direct connection" ||
	it_fail "no direct refusal failure journaled for cp1"
rot_keys | grep -qw talos-access-g2-key && it_pass "the old key talos-access-g2-key is still in the token" ||
	it_fail "old key destroyed: $(rot_keys)"
"$HSMCA" --json rotate status >"$WORK/st.json" 2>/dev/null
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); s={x["step"]:x["state"] for x in d["steps"]}
assert d["active"] and s["retire"] == "pending" and s["prove-revoked"] != "done", d' "$WORK/st.json" &&
	it_pass "journal open, retire not begun" || it_fail "status after the stubborn stop"
[[ ! -e "$HSMCA_HOME/cas/talos-access-g2/retired.json" ]] && it_pass "talos-access-g2 not retired" ||
	it_fail "g2 marked retired"
rot_fault cp1 stubborn=0
rc=0; HSMCA_FAULT=retire:before rot kill-retire rotate-ca --resume --dry-run=false || rc=$?
rot_killed_at retire:before "$rc"
rot_expect 0 resume-end rotate-ca --resume --dry-run=false
rot_check_end_fast talos-access-g2 talos-access-g3 "$WORK/g2.tc"
rot_check_oracle
rot_save_key "$TC" last
rot_leak_scan
it_summary
