#!/usr/bin/env bash
# Faults during hsmca tenant rotate-ca (issue 6, "must show" 3 and 4): each a
# clear error and a resumable journal, none a hang.
#  - API server unreachable: before anything (nothing written), on resume after the deletions (the journal stays), and
#    frozen in the middle of the wait (deadline, then resume);
#  - 403 on the third deletion: the error names the Secret and the reason,
#    --abort refuses (three Secrets are gone), the resumed run deletes only the
#    remaining nine;
#  - a pod that never becomes Ready: the deadline (--timeout) ends the run
#    naming the pod; resumed once it is Ready;
#  - watches answered with 410 (as an ERROR event and as HTTP 410), streams
#    cut, 429 with Retry-After: the run lists again / resumes and completes;
#  - a second run while one holds the lock is refused; a torn last journal
#    line (crash in the middle of a write) is dropped on resume;
#  - no private key bytes in any output, the audit log or the journals.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
. "$HSMCA_TEST_SRCDIR/tests/integration/lib/kube_tenant.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
kt_start_double
it_ok "$HSMCA" init --softhsm >/dev/null
JDIR=$HSMCA_HOME/tenant/$KT_NS-$KT_NAME
ROT=(tenant rotate-ca --name "$KT_NAME" --namespace "$KT_NS" --timeout 60s)
GOOD=(--kubeconfig "$KT_KUBECONFIG")
kt_collect_keys

last_step() {
	"$KT_PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["step"])' \
		"$JDIR/journal.jsonl"
}
deletes() { kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/secrets/" "$@"; }

# --- API server unreachable ---
port=$(it_free_port)
sed "s#https://127.0.0.1:$KT_PORT#https://127.0.0.1:$port#" "$KT_KUBECONFIG" >"$WORK/down.kubeconfig"
chmod 0600 "$WORK/down.kubeconfig"
grep -q "127.0.0.1:$port" "$WORK/down.kubeconfig" && it_pass "kubeconfig for a closed port" ||
	it_fail "could not point the kubeconfig at a closed port"
BAD=(--kubeconfig "$WORK/down.kubeconfig")
it_expect_fail 1 "CURLE_COULDNT_CONNECT" hs "${ROT[@]}" "${BAD[@]}"
# A fresh run settles which TenantControlPlane before it writes anything.
it_expect_fail 1 "CURLE_COULDNT_CONNECT" hs "${ROT[@]}" "${BAD[@]}" --dry-run=false
it_assert_contains "$(cat "$IT_ERR")" "find TenantControlPlane $KT_NS/$KT_NAME" \
	"unreachable: the error says what was being done"
[[ ! -e "$JDIR/journal.jsonl" ]] && it_pass "unreachable: nothing written, no journal" ||
	it_fail "unreachable: a journal was left"

kt_ctl DELETE /requests >/dev/null
rc=0
HSMCA_FAULT=tenant:delete hs "${ROT[@]}" "${GOOD[@]}" --dry-run=false >/dev/null 2>&1 || rc=$?
it_assert_eq 137 "$rc" "killed after the deletions"
it_expect_fail 1 "CURLE_COULDNT_CONNECT" hs "${ROT[@]}" "${BAD[@]}" --resume
it_assert_contains "$(cat "$IT_ERR")" "cannot be undone" "the error says the regeneration is under way"
st=$(last_step)
[[ "$st" == delete-done || "$st" == restart-begin ]] && it_pass "the failed resume got no further ($st)" ||
	it_fail "the failed resume journaled $st"
# A crash in the middle of a journal write leaves a torn last line.
printf '{"step":"restart-begin","ti' >>"$JDIR/journal.jsonl"
out=$(it_ok hs "${ROT[@]}" "${GOOD[@]}" --resume)
it_assert_contains "$out" "CA rotated (resumed)" "resumed after the API server is back (torn line dropped)"
it_assert_eq 12 "$(deletes)" "no Secret deleted twice"
kt_collect_keys

# --- 403 on a delete ---
kt_ctl DELETE /requests >/dev/null
kt_ctl POST /faults "{\"forbid\": [{\"verb\": \"delete\", \"resource\": \"secrets\", \"namespace\": \"$KT_NS\", \"name\": \"$KT_NAME-api-server-certificate\"}]}" >/dev/null
it_expect_fail 1 "delete secret $KT_NS/$KT_NAME-api-server-certificate: forbidden" \
	hs "${ROT[@]}" "${GOOD[@]}" --dry-run=false
it_assert_contains "$(cat "$IT_ERR")" "(HTTP 403)" "403: the error carries the HTTP status"
it_assert_contains "$(cat "$IT_ERR")" "3 of 12 Secrets deleted so far" "403: the error says how far it got"
it_assert_contains "$(cat "$IT_ERR")" "--resume" "403: the error says how to go on"
it_expect_fail 1 "Secrets were already deleted" hs "${ROT[@]}" "${GOOD[@]}" --abort
it_expect_fail 1 "forbidden" hs "${ROT[@]}" "${GOOD[@]}" --resume
kt_ctl POST /faults '{}' >/dev/null
out=$(it_ok hs "${ROT[@]}" "${GOOD[@]}" --resume)
it_assert_contains "$out" "9 secrets deleted" "the resumed run deleted only the remaining nine"
it_assert_eq 12 "$(deletes 200)" "each Secret deleted once"
it_assert_eq 2 "$(deletes 403)" "two refused attempts"

# --- a pod that never becomes Ready: the deadline ---
kt_ctl POST /faults "{\"pod_never_ready\": \"virt-launcher-$KT_NAME-\"}" >/dev/null
start=$SECONDS
it_expect_fail 1 "not reached within the deadline" hs "${ROT[@]}" "${GOOD[@]}" --dry-run=false --timeout 6s
el=$((SECONDS - start))
((el < 45)) && it_pass "deadline: ended after ${el}s (--timeout 6s)" || it_fail "took ${el}s"
it_assert_contains "$(cat "$IT_ERR")" "worker VM (virt-launcher) pod $KT_NS/virt-launcher-$KT_NAME-" \
	"deadline: the error names the pod"
it_assert_contains "$(cat "$IT_ERR")" "is not Ready" "deadline: ... and why"
it_assert_eq restart-done "$(last_step)" "deadline: the journal stops before wait-done"
grep -q '"event":"tenant-rotate","object":"tenant '"$KT_NS/$KT_NAME"'","outcome":"failed"' "$HSMCA_HOME/audit.log" &&
	it_pass "deadline: the failure is in the audit log" || it_fail "no failed line in the audit log"
kt_ctl POST /faults '{}' >/dev/null
kt_ctl DELETE /requests >/dev/null
out=$(it_ok hs "${ROT[@]}" "${GOOD[@]}" --resume)
it_assert_contains "$out" "CA rotated (resumed)" "resumed once the pods are Ready"
it_assert_eq 0 "$(deletes)" "the resumed run deleted nothing"

# --- the API server freezes in the middle of the wait ---
kt_ctl POST /faults "{\"pod_never_ready\": \"virt-launcher-$KT_NAME-\"}" >/dev/null
(
	rc=0
	hs "${ROT[@]}" "${GOOD[@]}" --dry-run=false --timeout 8s >"$WORK/frozen.out" 2>"$WORK/frozen.err" || rc=$?
	echo "$rc" >"$WORK/frozen.rc"
) &
bg=$!
it_register_pid "$bg"
for ((i = 0; i < 100; i++)); do
	[[ -f "$JDIR/journal.jsonl" ]] && [[ "$(last_step 2>/dev/null)" == restart-done ]] && break
	sleep 0.1
done
kill -STOP "$KT_PID"
start=$SECONDS
wait "$bg" || true
el=$((SECONDS - start))
kill -CONT "$KT_PID"
it_assert_eq 1 "$(cat "$WORK/frozen.rc")" "frozen API server: the run fails"
((el < 60)) && it_pass "frozen API server: no hang (${el}s)" || it_fail "frozen: ${el}s"
grep -q "run again with --resume" "$WORK/frozen.err" && it_pass "frozen API server: resumable error" ||
	it_fail "frozen: $(cat "$WORK/frozen.err")"
kt_ctl POST /faults '{}' >/dev/null
it_ok hs "${ROT[@]}" "${GOOD[@]}" --resume >/dev/null

# --- 410 and cut watch streams, 429: list again / resume, and complete ---
# Each such run starts with the worker VMs' replacement held back (the
# double's fault hold_vm_restart), so it is certainly waiting in a watch when
# the faults are served; the test releases the VMs once the condition it
# needs is reached.  Nothing depends on how fast anything runs.
release_vms() {
	kt_ctl GET /faults | "$KT_PY" -c '
import json, sys
f = json.load(sys.stdin); f.pop("hold_vm_restart", None); print(json.dumps(f))' >"$WORK/faults.json"
	kt_ctl POST /faults "$(cat "$WORK/faults.json")" >/dev/null
}
# held_run FAULTS_JSON RELEASE_PY: RELEASE_PY is a Python expression over
# `faults` and `requests` (the control port's views); output in held.{out,err,rc}.
held_run() {
	local bg i
	kt_ctl DELETE /requests >/dev/null
	kt_ctl POST /faults "$1" >/dev/null
	(
		rc=0
		"$HSMCA" "${ROT[@]}" "${GOOD[@]}" --dry-run=false >"$WORK/held.out" 2>"$WORK/held.err" || rc=$?
		echo "$rc" >"$WORK/held.rc"
	) &
	bg=$!
	it_register_pid "$bg"
	for ((i = 0; i < 600; i++)); do
		kt_ctl GET /faults >"$WORK/f.json"
		kt_ctl GET /requests >"$WORK/r.json"
		"$KT_PY" -c '
import json, sys
faults = json.load(open(sys.argv[1])); requests = json.load(open(sys.argv[2]))["requests"]
sys.exit(0 if eval(sys.argv[3]) else 1)' "$WORK/f.json" "$WORK/r.json" "$2" && break
		sleep 0.1
	done
	release_vms
	wait "$bg" || true
	cat "$WORK/held.out" >>"$WORK/outputs/stdout"
	cat "$WORK/held.err" >>"$WORK/outputs/stderr"
}
for mode in event http; do
	fault="{\"watch_gone\": {\"count\": 2, \"mode\": \"$mode\"}, \"hold_vm_restart\": true}"
	held_run "$fault" 'faults["watch_gone"]["count"] == 0'
	it_assert_eq 0 "$(cat "$WORK/held.rc")" "410 ($mode): the run completes"
	it_assert_contains "$(cat "$WORK/held.err")" "watch expired (410)" "410 ($mode): reported"
	it_assert_contains "$(cat "$WORK/held.err")" "listed again and went on" "410 ($mode): ... and listed again"
	it_assert_contains "$(cat "$WORK/held.out")" " 2 expired (410) and listed again" \
		"410 ($mode): both 410s the double served were counted"
	kt_ctl POST /faults '{}' >/dev/null
done
# A pods watch of the tenant namespace is open (the VMs are held): release.
held_run '{"watch_cut": {"count": 2, "after_events": 1}, "hold_vm_restart": true}' \
	'any(r["method"] == "GET" and r["path"] == "/api/v1/namespaces/'"$KT_NS"'/pods" and "watch=1" in r["query"] for r in requests)'
it_assert_eq 0 "$(cat "$WORK/held.rc")" "cut watch streams: the run completes"
n=$(sed -n 's/.* \([0-9][0-9]*\) streams resumed.*/\1/p' "$WORK/held.out")
((n >= 1)) && it_pass "cut watch streams: $n resumed" || it_fail "cut: $(cat "$WORK/held.out")"
kt_ctl POST /faults '{}' >/dev/null
kt_ctl POST /faults '{"too_many_requests": {"count": 3, "retry_after": 1}}' >/dev/null
it_ok hs "${ROT[@]}" "${GOOD[@]}" --dry-run=false >/dev/null
it_assert_eq 3 "$(kt_ctl GET /requests | "$KT_PY" -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin)["requests"] if r.get("code") == 429))')" \
	"429: three throttled requests were retried"
kt_ctl POST /faults '{}' >/dev/null

# --- the lock ---
mkdir -p "$JDIR"
flock -n "$JDIR/lock" sleep 60 &
holder=$!
it_register_pid "$holder"
sleep 0.3
it_expect_fail 1 "another hsmca tenant rotate-ca holds" hs "${ROT[@]}" "${GOOD[@]}" --dry-run=false
it_kill_pid "$holder" 5
it_assert_eq "" "$(ls "$JDIR"/journal.jsonl 2>/dev/null)" "the locked-out run wrote no journal"
kt_collect_keys

# --- no private key bytes anywhere hsmca wrote ---
kt_scan_no_keys "$WORK/outputs/stdout" "$WORK/outputs/stderr" "$WORK/frozen.out" "$WORK/frozen.err" \
	"$HSMCA_HOME/audit.log" "$JDIR"/*.jsonl
it_assert_eq '{"violations": []}' "$(kt_ctl GET /violations | tr -d '\n ' | sed 's/:/: /')" \
	"the double's oracle saw no private key sent by hsmca"
it_contains_audit=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$it_contains_audit" "hash chain intact" "audit chain intact"
kt_stop_double
it_summary
