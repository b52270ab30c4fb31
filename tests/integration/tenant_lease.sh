#!/usr/bin/env bash
# The coordination.k8s.io/v1 Lease that `hsmca tenant rotate-ca` holds for
# its tenant (issue 16, the lock only), against the Kubernetes API double:
#  - a Lease held by another, unexpired holder: the run is refused, naming the
#    holder and when the Lease expires; nothing is deleted, nothing journaled;
#  - that Lease expired, and another writer wins the race between our GET and
#    PUT (the double's one-shot 409 Conflict): refused, naming the holder;
#  - expired and no race: taken over (leaseTransitions counts it), the
#    rotation completes, the Lease is released (holder cleared);
#  - two runs from two state directories started together: exactly one
#    rotates.  Deterministic: the winner is held in its wait step (the double
#    keeps the restarted pods unready) until the loser has exited; the loser
#    names the winner, which is the Lease's holder at that moment.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
. "$HSMCA_TEST_SRCDIR/tests/integration/lib/kube_tenant.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
kt_start_double
LEASE=hsmca-rotate-$KT_NAME
LPATH=/apis/coordination.k8s.io/v1/namespaces/$KT_NS/leases
ROT=(tenant rotate-ca --name "$KT_NAME" --namespace "$KT_NS" --kubeconfig "$KT_KUBECONFIG"
	--timeout 120s --dry-run=false)
HOME_A=$WORK/home
HOME_B=$WORK/home-b
it_ok "$HSMCA" init --softhsm >/dev/null
mkdir -m 0700 "$HOME_B"
HSMCA_HOME=$HOME_B it_ok "$HSMCA" init --softhsm >/dev/null

# kt_lease_write METHOD HOLDER RENEW_TIME DURATION [RESOURCEVERSION]: POST or PUT the Lease.
kt_lease_write() {
	local body
	body=$("$KT_PY" -c '
import json, sys
m, holder, renew, dur, rv = sys.argv[1:6]
md = {"name": sys.argv[6], "namespace": sys.argv[7]}
if rv:
    md["resourceVersion"] = rv
print(json.dumps({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md,
                  "spec": {"holderIdentity": holder, "leaseDurationSeconds": int(dur),
                           "acquireTime": renew, "renewTime": renew, "leaseTransitions": 0}}))
' "$1" "$2" "$3" "$4" "${5:-}" "$LEASE" "$KT_NS")
	local url="https://127.0.0.1:$KT_PORT$LPATH"
	[[ $1 == PUT ]] && url+="/$LEASE"
	curl -sS --max-time 10 --cacert "$KT_DIR/ca.crt" -H "Authorization: Bearer $KT_TOKEN" \
		-H 'Content-Type: application/json' -X "$1" --data "$body" -o /dev/null -w '%{http_code}' "$url"
}

# kt_lease FIELD: spec.FIELD or metadata.FIELD of the Lease.
kt_lease() {
	kt_api "$LPATH/$LEASE" | "$KT_PY" -c '
import json, sys
o = json.load(sys.stdin)
f = sys.argv[1]
print(o["spec"].get(f, "") if f in ("holderIdentity", "leaseTransitions", "renewTime") else o["metadata"][f])' "$1"
}

now=$("$KT_PY" -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')

# --- 1. held by a live holder: refused, holder and expiry named ---
it_assert_eq 201 "$(kt_lease_write POST ops-laptop/4242/feedfacecafebeef "$now" 3600)" \
	"a Lease held by another operator (renewed now, 3600 s) is created"
kt_ctl DELETE /requests >/dev/null
it_expect_fail 1 "Lease $KT_NS/$LEASE is taken: held by ops-laptop/4242/feedfacecafebeef (renewed $now, expires " \
	hs "${ROT[@]}"
grep -qE "expires [0-9T:.-]+Z, in 3[0-9]{3} s" "$IT_ERR" && it_pass "the refusal says when the Lease expires" ||
	it_fail "no expiry in: $(cat "$IT_ERR")"
it_assert_eq 0 "$(kt_count_requests DELETE .)" "the refused run deleted nothing"
it_assert_eq 0 "$(kt_count_requests PUT "$LPATH")" "the refused run did not write the Lease"
it_assert_eq 0 "$(kt_tenant rotations)" "no rotation happened"
[[ ! -s "$HOME_A/tenant/$KT_NS-$KT_NAME/journal.jsonl" ]] && it_pass "the refused run journaled nothing" ||
	it_fail "the refused run left a journal"
it_assert_eq ops-laptop/4242/feedfacecafebeef "$(kt_lease holderIdentity)" "the Lease still names its holder"

# --- 2. expired, but another writer wins the race (409 Conflict on our PUT) ---
rv=$(kt_lease resourceVersion)
it_assert_eq 200 "$(kt_lease_write PUT ci-runner/77/0123456789abcdef 2000-01-01T00:00:00.000000Z 30 "$rv")" \
	"the Lease is now an expired one of ci-runner (renewed in 2000)"
kt_ctl POST /faults '{"conflict": {"count": 1}}' >/dev/null
kt_ctl DELETE /requests >/dev/null
it_expect_fail 1 "Lease $KT_NS/$LEASE was taken over by another run at the same moment: held by ci-runner/77/0123456789abcdef" \
	hs "${ROT[@]}"
it_assert_eq 1 "$(kt_count_requests PUT "$LPATH/$LEASE" 409)" "the takeover was one PUT, answered 409 Conflict"
it_assert_eq 0 "$(kt_count_requests DELETE .)" "the run that lost the race deleted nothing"
it_assert_eq 0 "$(kt_tenant rotations)" "no rotation happened"

# --- 3. expired, no race: taken over, the rotation runs, the Lease is released ---
rc=0
out=$(hs "${ROT[@]}" 2>&1) || rc=$?
it_assert_eq 0 "$rc" "the run with the expired Lease succeeded"
it_assert_contains "$out" "holding Lease $KT_NS/$LEASE as $(hostname)/" "the run names the Lease it holds and its identity"
it_assert_eq 1 "$(kt_tenant rotations)" "the expired Lease was taken over and the tenant rotated once"
it_assert_eq "" "$(kt_lease holderIdentity)" "the Lease was released (holder cleared) at the end"
it_assert_eq 1 "$(kt_lease leaseTransitions)" "leaseTransitions counts the takeover from ci-runner"

# --- 4. two runs from two state directories at once: exactly one rotates ---
kt_ctl POST /faults '{"pod_never_ready": true}' >/dev/null
kt_ctl DELETE /requests >/dev/null
HSMCA_HOME=$HOME_A "$HSMCA" "${ROT[@]}" >"$WORK/run-a.out" 2>"$WORK/run-a.err" &
pid_a=$!
HSMCA_HOME=$HOME_B "$HSMCA" "${ROT[@]}" >"$WORK/run-b.out" 2>"$WORK/run-b.err" &
pid_b=$!
it_register_pid "$pid_a" "$pid_b"
first=
rc_first=0
wait -n -p first "$pid_a" "$pid_b" || rc_first=$?
if [[ $first == "$pid_a" ]]; then loser=a winner=b pid_w=$pid_b; else loser=b winner=a pid_w=$pid_a; fi
it_assert_eq 1 "$rc_first" "the run that ended first (run $loser) was refused while the other held the Lease"
lerr=$(cat "$WORK/run-$loser.err")
holder=$(kt_lease holderIdentity)
it_assert_contains "$holder" "/$pid_w/" "the Lease is held by the other run (pid $pid_w)"
it_assert_contains "$lerr" "held by $holder" "the refused run names the holder"
it_assert_eq 0 "$(grep -c "holding Lease" "$WORK/run-$loser.err" || true)" "the refused run never held the Lease"
kt_ctl POST /faults '{}' >/dev/null
rc_w=0
wait "$pid_w" || rc_w=$?
it_assert_eq 0 "$rc_w" "the run holding the Lease (run $winner) completed the rotation"
it_assert_eq 2 "$(kt_tenant rotations)" "the tenant was rotated exactly once more"
it_assert_eq 12 "$(kt_count_requests DELETE "/api/v1/namespaces/$KT_NS/secrets/")" \
	"twelve Secret DELETEs in all: none twice"
it_assert_eq "" "$(kt_lease holderIdentity)" "the Lease was released by the winner"
[[ ! -e "$HOME_A/tenant/$KT_NS-$KT_NAME/journal.jsonl" && ! -e "$HOME_B/tenant/$KT_NS-$KT_NAME/journal.jsonl" ]] &&
	it_pass "no unfinished journal in either state directory" || it_fail "an unfinished journal was left"

# --- 5. a run killed (SIGKILL) after its deletions leaves its Lease held ---
rc=0
HSMCA_FAULT=tenant:delete HSMCA_HOME=$HOME_A "$HSMCA" "${ROT[@]}" >"$WORK/killed.out" 2>"$WORK/killed.err" || rc=$?
it_assert_eq 137 "$rc" "the run was killed after deleting the Secrets"
dead=$(kt_lease holderIdentity)
it_assert_contains "$dead" "$(hostname)/" "the killed run's Lease is still held"
# Another state directory must wait for the Lease to expire.
HSMCA_HOME=$HOME_B it_expect_fail 1 "is taken: held by $dead" hs "${ROT[@]}"
# The killed run's own state directory holds its flock, so that run is
# provably dead: --resume takes the Lease over at once and finishes.
rc=0
out=$(HSMCA_HOME=$HOME_A hs "${ROT[@]/--dry-run=false/--resume}" 2>&1) || rc=$?
it_assert_eq 0 "$rc" "--resume from the killed run's state directory reclaims its Lease and finishes"
it_assert_eq 3 "$(kt_tenant rotations)" "the killed and resumed rotation counts once"
it_assert_eq 24 "$(kt_count_requests DELETE "/api/v1/namespaces/$KT_NS/secrets/")" \
	"the resumed run deleted no Secret again (12 per rotation)"
it_assert_eq "" "$(kt_lease holderIdentity)" "the Lease was released after the resume"

# --- 6. the Lease lost mid-run: the run stops before its next changing step ---
# wait_for DESC CMD...: poll (0.2 s) until CMD succeeds; bounded, not a timed assertion.
wait_for() {
	local desc=$1 i
	shift
	for ((i = 0; i < 600; i++)); do
		"$@" && return 0
		sleep 0.2
	done
	it_fail "never happened: $desc"
	return 1
}
JA=$HOME_A/tenant/$KT_NS-$KT_NAME/journal.jsonl
kt_ctl POST /faults '{"pod_never_ready": true}' >/dev/null
kt_ctl DELETE /requests >/dev/null
HSMCA_HOME=$HOME_A "$HSMCA" "${ROT[@]}" --lease-duration 3s >"$WORK/lost.out" 2>"$WORK/lost.err" &
pid_l=$!
it_register_pid "$pid_l"
wait_for "the run reaches its wait step" grep -q '"step":"restart-done"' "$JA"
# The run renews every second, so the intruder re-reads on 409 as any writer would.
intrude() { [[ $(kt_lease_write PUT intruder/1/00000000deadbeef "$now" 3600 "$(kt_lease resourceVersion)") == 200 ]]; }
wait_for "another writer overwrites the Lease while the run waits" intrude &&
	it_pass "another writer overwrote the Lease while the run waited"
# hsmca's own PUTs (user kubernetes-admin, its client certificate), not the
# intruder's retries (admin token).
renewal_conflicted() {
	kt_ctl GET /requests | "$KT_PY" -c '
import json, sys
sys.exit(0 if any(r.get("method") == "PUT" and r.get("path") == sys.argv[1] and r.get("code") == 409
                  and r.get("user") == "kubernetes-admin" for r in json.load(sys.stdin)["requests"]) else 1)' "$LPATH/$LEASE"
}
wait_for "the run's renewal meets 409 Conflict" renewal_conflicted
kt_ctl POST /faults '{}' >/dev/null
rc=0
wait "$pid_l" || rc=$?
it_assert_eq 1 "$rc" "the run whose Lease was lost failed"
it_assert_contains "$(cat "$WORK/lost.err")" "before step write: Lease $KT_NS/$LEASE is no longer ours: " \
	"it stopped before writing the kubeconfig, saying the Lease is no longer ours"
it_assert_contains "$(cat "$WORK/lost.err")" "held by intruder/1/00000000deadbeef" "and who holds it now"
it_assert_eq intruder/1/00000000deadbeef "$(kt_lease holderIdentity)" "the lost Lease was not released over the new holder"
[[ -s $JA ]] && it_pass "the stopped run left its journal for --resume" || it_fail "no journal left"

it_summary
