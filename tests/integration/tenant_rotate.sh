#!/usr/bin/env bash
# hsmca tenant rotate-ca against the Kubernetes API double's Kamaji tenant
# (issue 6, "must show" 2 and 4):
#  - usage errors exit 2;
#  - the dry run lists the twelve Secrets (the seed's eleven and the
#    front-proxy CA) and the pod selectors and changes
#    nothing (uids and resourceVersions compared, only GETs in the request log,
#    no journal);
#  - a real run needs a state directory, then ends with a new CA in the -ca
#    Secret, all twelve Secrets recreated, worker VM pods replaced, the new admin
#    kubeconfig written 0600 and working, the old one and its client
#    certificate refused (both checked independently of hsmca), both fingerprints in a verifiable audit log;
#  - killed after the deletions and resumed, it waits instead of deleting
#    again (the double's request log counts the DELETEs); killed after the
#    first deletion, the resumed run deletes only the other ten; killed before
#    anything destructive, --abort clears it;
#  - --method annotate rotates in place; a symlink at --out is refused and the
#    journaled run resumes with another --out;
#  - no private key bytes in any output, the audit log or the journals.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
. "$HSMCA_TEST_SRCDIR/tests/integration/lib/kube_tenant.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
kt_start_double
JDIR=$HSMCA_HOME/tenant/$KT_NS-$KT_NAME
ROT=(tenant rotate-ca --name "$KT_NAME" --namespace "$KT_NS" --kubeconfig "$KT_KUBECONFIG"
	--timeout 60s)
kt_collect_keys

# --- usage ---
it_expect_fail 2 "--name and --namespace are required" hs tenant rotate-ca --namespace x
it_expect_fail 2 "--method is delete or annotate" hs "${ROT[@]}" --method erase
it_expect_fail 2 "exclude each other" hs "${ROT[@]}" --resume --abort
it_expect_fail 2 "cannot be a dry run" hs "${ROT[@]}" --resume --dry-run=true
it_expect_fail 2 "--dry-run takes true or false" hs "${ROT[@]}" --dry-run=maybe
it_expect_fail 2 "unknown action" hs tenant frobnicate
it_expect_fail 2 "--timeout" hs "${ROT[@]}" --timeout soon

# --- dry run: lists everything, changes nothing (no state directory needed) ---
before=$(kt_snapshot)
[[ $(grep -c '^secret ' <<<"$before") -ge 12 ]] && it_pass "the double seeded the tenant's Secrets" ||
	it_fail "unexpected seed: $before"
kt_ctl DELETE /requests >/dev/null
out=$(it_ok hs "${ROT[@]}")
for s in ca sa-certificate api-server-certificate api-server-kubelet-client-certificate \
	front-proxy-ca-certificate front-proxy-client-certificate datastore-certificate konnectivity-certificate \
	admin-kubeconfig controller-manager-kubeconfig scheduler-kubeconfig konnectivity-kubeconfig; do
	uid=$(awk -v k="$KT_NS/$KT_NAME-$s" '$1 == "secret" && $2 == k { print $3 }' <<<"$before")
	it_assert_contains "$out" "  $KT_NAME-$s (uid $uid," "dry run lists secret $KT_NAME-$s with its uid"
done
it_assert_eq 12 "$(grep -c "^  $KT_NAME-.* (uid " <<<"$out")" "dry run lists exactly twelve Secrets"
it_assert_contains "$out" "-l app.kubernetes.io/name=kamaji" "dry run names the Kamaji controller selector"
it_assert_contains "$out" "$KT_KNS " "dry run names the Kamaji namespace"
it_assert_contains "$out" "-l app=$KT_NAME-kcsi-driver" "dry run names the kcsi-driver selector"
it_assert_contains "$out" "name virt-launcher-$KT_NAME-*" "dry run names the virt-launcher pods it awaits"
it_assert_contains "$out" "TenantControlPlane $KT_NAME status Ready" "dry run names the TenantControlPlane condition"
it_assert_contains "$out" "$WORK/$KT_NAME-admin.kubeconfig" "dry run names the output file"
it_assert_contains "$out" "$(kt_tenant ca_sha256)" "dry run shows the current CA fingerprint"
json=$(it_ok hs --json "${ROT[@]}" --dry-run=true)
it_assert_eq "12 3" "$(printf '%s' "$json" | "$KT_PY" -c 'import json,sys; p=json.load(sys.stdin); print(len(p["delete"]), len(p["await"]["pods"]))')" \
	"--json dry run: 12 Secrets to delete, 3 pod groups to await"
it_assert_eq "$before" "$(kt_snapshot)" "dry run changed no uid or resourceVersion"
it_assert_eq "GET" "$(kt_request_methods)" "dry run sent only GET requests"
it_assert_eq 0 "$(kt_tenant rotations)" "no rotation happened"
[[ ! -e "$HSMCA_HOME/tenant" && ! -e "$WORK/$KT_NAME-admin.kubeconfig" ]] &&
	it_pass "dry run wrote no journal and no kubeconfig" || it_fail "dry run left files"

# --- a real run needs a state directory ---
it_expect_fail 1 "not an hsmca state directory" hs "${ROT[@]}" --dry-run=false
it_assert_eq "$before" "$(kt_snapshot)" "refused run changed nothing"
it_ok "$HSMCA" init --softhsm >/dev/null

# --- the real run ---
old_fp=$(kt_tenant ca_sha256)
kt_save_admin_kubeconfig "$WORK/old-admin.kubeconfig"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$WORK/old-admin.kubeconfig")" \
	"the old admin kubeconfig works before the rotation (independent check)"
kt_ctl DELETE /requests >/dev/null
out=$(it_ok hs "${ROT[@]}" --dry-run=false)
new_fp=$(kt_tenant ca_sha256)
[[ "$new_fp" != "$old_fp" ]] && it_pass "$KT_NAME-ca holds a new CA" || it_fail "the CA did not change"
it_assert_eq 1 "$(kt_tenant rotations)" "exactly one rotation"
it_assert_contains "$out" "old CA sha256:        $old_fp" "result names the old CA fingerprint"
it_assert_contains "$out" "new CA sha256:        $new_fp" "result names the new CA fingerprint"
after=$(kt_snapshot)
for s in $(grep "^secret $KT_NS/$KT_NAME-" <<<"$before" | grep -v datastore-config | awk '{print $2}'); do
	o=$(awk -v k="$s" '$2 == k {print $3}' <<<"$before")
	n=$(awk -v k="$s" '$2 == k {print $3}' <<<"$after")
	[[ -n "$n" && "$n" != "$o" ]] && it_pass "$s recreated (new uid)" || it_fail "$s not recreated ($o -> $n)"
done
it_assert_eq 12 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/secrets/$KT_NAME-" 200)" \
	"twelve Secrets deleted, once each"
old_vl=$(grep "virt-launcher-$KT_NAME-" <<<"$before" | awk '{print $3}' | sort)
new_vl=$(grep "virt-launcher-$KT_NAME-" <<<"$after" | awk '{print $3}' | sort)
[[ -n "$new_vl" && -z "$(comm -12 <(echo "$old_vl") <(echo "$new_vl"))" ]] &&
	it_pass "every virt-launcher pod was replaced" || it_fail "virt-launcher pods: $old_vl / $new_vl"
it_assert_eq 1 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_KNS/pods/kamaji-" 200)" \
	"the Kamaji controller pod was restarted"
it_assert_eq 2 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/pods/$KT_NAME-kcsi-driver-" 200)" \
	"both kcsi-driver pods were restarted"
KC=$WORK/$KT_NAME-admin.kubeconfig
it_assert_eq 600 "$(stat -c %a "$KC")" "new admin kubeconfig is mode 0600"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$KC")" "the new admin kubeconfig works (independent check)"
r=$(kt_probe_kubeconfig "$WORK/old-admin.kubeconfig")
[[ "$r" == tls* ]] && it_pass "the old admin kubeconfig is refused (server verification: $r)" ||
	it_fail "old admin kubeconfig: $r"
it_assert_contains "$out" "old admin kubeconfig: refused" "hsmca reports the old kubeconfig refused"
it_assert_contains "$out" "CURLE_PEER_FAILED_VERIFICATION" "... and says how (server certificate)"
it_assert_eq "http 401" "$(kt_probe_mixed "$WORK/old-admin.kubeconfig" "$KC")" \
	"the old client certificate, with the new CA trusted, gets 401 (independent check)"
it_assert_eq "" "$(ls "$JDIR"/journal.jsonl 2>/dev/null)" "the journal is closed"
ls "$JDIR"/done-*.jsonl >/dev/null 2>&1 && it_pass "the journal is kept as done-*.jsonl" ||
	it_fail "no done journal"
audit=$(grep '"event":"tenant-rotate"' "$HSMCA_HOME/audit.log" | tail -1)
it_assert_contains "$audit" "\"old_ca_sha256\":\"$old_fp\"" "audit log has the old fingerprint"
it_assert_contains "$audit" "\"new_ca_sha256\":\"$new_fp\"" "audit log has the new fingerprint"
it_assert_contains "$(it_ok "$HSMCA" audit verify)" "hash chain intact" "audit chain intact"
kt_collect_keys

# --- killed after the deletions, resumed: waits, never deletes again ---
kt_save_admin_kubeconfig "$WORK/old2-admin.kubeconfig"
old_fp=$(kt_tenant ca_sha256)
kt_ctl DELETE /requests >/dev/null
rc=0
HSMCA_FAULT=tenant:delete hs "${ROT[@]}" --dry-run=false >/dev/null 2>&1 || rc=$?
it_assert_eq 137 "$rc" "HSMCA_FAULT=tenant:delete killed the run (SIGKILL)"
it_assert_eq delete-done "$("$KT_PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["step"])' "$JDIR/journal.jsonl")" \
	"the journal ends after the deletions"
it_assert_eq 12 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/secrets/")" "twelve DELETEs before the kill"
it_expect_fail 1 "run again with --resume" hs "${ROT[@]}" --dry-run=false
it_expect_fail 1 "cannot be undone" hs "${ROT[@]}" --abort
out=$(it_ok hs "${ROT[@]}" --resume)
it_assert_eq 12 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/secrets/")" \
	"the resumed run deleted no Secret again (still twelve DELETEs)"
it_assert_contains "$out" "CA rotated (resumed)" "the resumed run completes"
it_assert_contains "$out" "0 secrets deleted" "the resumed run reports no deletion"
new_fp=$(kt_tenant ca_sha256)
[[ "$new_fp" != "$old_fp" ]] && it_pass "resumed run: new CA" || it_fail "resumed run: CA unchanged"
it_assert_contains "$out" "new CA sha256:        $new_fp" "resumed run reports the new CA"
it_assert_contains "$out" "old admin credential: not proven" \
	"resumed run says the old credential's 401 could not be proven (key never on disk)"
it_assert_contains "$out" "old admin kubeconfig: refused" "resumed run still proves the old CA refused"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$KC")" "resumed run: new kubeconfig works"
r=$(kt_probe_kubeconfig "$WORK/old2-admin.kubeconfig")
[[ "$r" == tls* ]] && it_pass "resumed run: the previous kubeconfig is refused ($r)" || it_fail "previous: $r"
kt_collect_keys

# --- killed after the first deletion: the resumed run deletes the other eleven ---
kt_ctl DELETE /requests >/dev/null
rc=0
HSMCA_FAULT=tenant:delete-one hs "${ROT[@]}" --dry-run=false >/dev/null 2>&1 || rc=$?
it_assert_eq 137 "$rc" "HSMCA_FAULT=tenant:delete-one killed the run"
it_assert_eq 1 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/secrets/")" "one DELETE before the kill"
sleep 1 # let Kamaji regenerate foo-ca meanwhile: it must not be deleted again
it_ok hs "${ROT[@]}" --resume >/dev/null
per=$(kt_ctl GET /requests | "$KT_PY" -c '
import collections, json, sys
c = collections.Counter(r["path"].rsplit("/", 1)[1] for r in json.load(sys.stdin)["requests"]
                        if r["method"] == "DELETE" and "/secrets/" in r["path"])
print(len(c), max(c.values()))')
it_assert_eq "12 1" "$per" "after the resume every Secret was deleted exactly once"
kt_collect_keys

# --- killed between the first DELETE and its journal line: the uid
# precondition keeps the regenerated foo-ca from being deleted again ---
kt_ctl DELETE /requests >/dev/null
rc=0
HSMCA_FAULT=tenant:delete-unjournaled hs "${ROT[@]}" --dry-run=false >/dev/null 2>&1 || rc=$?
it_assert_eq 137 "$rc" "HSMCA_FAULT=tenant:delete-unjournaled killed the run"
for ((i = 0; i < 50; i++)); do
	[[ -n "$(kt_secret_uid "$KT_NAME-ca")" ]] && break
	sleep 0.2
done
it_expect_fail 1 "cannot abort: the deletion had begun and the cluster shows a changed" 	hs "${ROT[@]}" --abort
it_ok hs "${ROT[@]}" --resume >/dev/null
it_assert_contains "$(cat "$IT_ERR")" "secret $KT_NS/$KT_NAME-ca: already replaced (new uid), not deleted again" 	"the resumed run sees the regenerated foo-ca and leaves it"
it_assert_eq 1 "$(kt_count_requests DELETE "/secrets/$KT_NAME-ca$" 200)" "foo-ca deleted once"
it_assert_eq 1 "$(kt_count_requests DELETE "/secrets/$KT_NAME-ca$" 409)" 	"the second DELETE of foo-ca was refused by its uid precondition (409)"
kt_collect_keys

# --- a paused TenantControlPlane: refused before anything is deleted ---
tcp_patch() {
	curl -sS --max-time 10 --cacert "$KT_DIR/ca.crt" -H "Authorization: Bearer $KT_TOKEN" \
		-X PATCH -H 'Content-Type: application/merge-patch+json' --data "$1" \
		"https://127.0.0.1:$KT_PORT/apis/kamaji.clastix.io/v1alpha1/namespaces/$KT_NS/tenantcontrolplanes/$KT_NAME" >/dev/null
}
tcp_patch '{"metadata":{"annotations":{"kamaji.clastix.io/paused":"true"}}}'
kt_ctl DELETE /requests >/dev/null
it_assert_contains "$(it_ok hs "${ROT[@]}")" "warning: the TenantControlPlane carries kamaji.clastix.io/paused" \
	"the dry run warns about a paused TenantControlPlane"
it_expect_fail 1 "kamaji.clastix.io/paused" hs "${ROT[@]}" --dry-run=false
it_assert_eq 0 "$(kt_count_requests DELETE /)" "paused: nothing deleted"
[[ ! -e "$JDIR/journal.jsonl" ]] && it_pass "paused: refused before a journal was written" ||
	it_fail "paused: journal left"
tcp_patch '{"metadata":{"annotations":{"kamaji.clastix.io/paused":null}}}'

# --- killed before anything destructive: --abort clears it ---
kt_ctl DELETE /requests >/dev/null
snap=$(kt_snapshot)
rc=0
HSMCA_FAULT=tenant:record-old hs "${ROT[@]}" --dry-run=false >/dev/null 2>&1 || rc=$?
it_assert_eq 137 "$rc" "HSMCA_FAULT=tenant:record-old killed the run"
out=$(it_ok hs "${ROT[@]}" --dry-run)
it_assert_contains "$out" "an unfinished rotation is journaled" "the dry run mentions the unfinished journal"
out=$(it_ok hs "${ROT[@]}" --abort)
it_assert_contains "$out" "nothing had been deleted" "--abort clears a run that deleted nothing"
[[ ! -e "$JDIR/journal.jsonl" ]] && it_pass "journal gone after --abort" || it_fail "journal still there"
it_assert_eq 0 "$(kt_count_requests DELETE /)" "no DELETE at all"
it_assert_eq "$snap" "$(kt_snapshot)" "nothing changed"
it_expect_fail 1 "nothing to resume" hs "${ROT[@]}" --resume
it_expect_fail 1 "nothing to abort" hs "${ROT[@]}" --abort

# --- method annotate; a symlink at --out is refused, resume with another --out ---
kt_ctl DELETE /requests >/dev/null
ca_uid=$(kt_secret_uid "$KT_NAME-ca")
rot=$(kt_tenant rotations)
ln -s "$WORK/elsewhere" "$WORK/link.kubeconfig"
it_expect_fail 1 "symbolic link" hs "${ROT[@]}" --dry-run=false --method annotate --out "$WORK/link.kubeconfig"
[[ ! -e "$WORK/elsewhere" ]] && it_pass "nothing written through the symlink" || it_fail "followed the symlink"
it_assert_eq 0 "$(kt_count_requests DELETE "/secrets/")" "annotate deleted no Secret"
it_assert_eq 1 "$(kt_count_requests PATCH "^/api/v1/namespaces/$KT_NS/secrets/$KT_NAME-ca$" 200)" \
	"annotate patched foo-ca once"
it_expect_fail 1 "journaled rotation uses --method annotate" hs "${ROT[@]}" --resume --method delete
out=$(it_ok hs "${ROT[@]}" --resume --out "$WORK/annotated.kubeconfig")
it_assert_eq $((rot + 1)) "$(kt_tenant rotations)" "annotate: one more rotation"
it_assert_eq "$ca_uid" "$(kt_secret_uid "$KT_NAME-ca")" "annotate: foo-ca rotated in place (same uid)"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$WORK/annotated.kubeconfig")" "annotate: new kubeconfig works"
it_assert_eq 600 "$(stat -c %a "$WORK/annotated.kubeconfig")" "annotate: kubeconfig is 0600"
it_assert_eq 1 "$(kt_count_requests PATCH "/secrets/$KT_NAME-ca$" 200)" "the resume did not annotate again"
it_assert_contains "$(it_ok "$HSMCA" audit verify)" "hash chain intact" "audit chain intact at the end"
kt_collect_keys

# --- no private key bytes anywhere hsmca wrote (issue 6, must show 4) ---
printf 'planted %s\n' "$(head -1 "$WORK/.kt/needles")" >"$WORK/.kt/planted"
rc=0
kt_scan_raw "$WORK/.kt/planted" >/dev/null || rc=$?
it_assert_eq 1 "$rc" "the key scan does catch a planted needle"
kt_scan_no_keys "$WORK/outputs/stdout" "$WORK/outputs/stderr" "$HSMCA_HOME/audit.log" \
	"$JDIR"/*.jsonl
it_assert_eq '{"violations": []}' "$(kt_ctl GET /violations | tr -d '\n ' | sed 's/:/: /')" \
	"the double's oracle saw no private key sent by hsmca"
kt_stop_double
it_summary
