#!/usr/bin/env bash
# hsmca tenant rotate-ca on a Cozystack-shaped management cluster (issue 12,
# "must show" 1-4; issue 11, the tenant API server that keeps trusting a
# removed CA).  The double lays the tenant out as Cozystack, Kamaji,
# cluster-api-provider-kubevirt and KubeVirt do (docs/testing-doubles.md):
# TenantControlPlane kubernetes-foo in tenant-foo with Kamaji's 13 Secrets,
# 3 worker VMs whose virt-launcher pods carry
# cluster.x-k8s.io/cluster-name=kubernetes-foo and are replaced a few seconds
# after the tenant CA changes.
#  1. the dry run names the front-proxy CA Secret and the 3 launcher pods and
#     changes nothing; the real run exits 0 only once every old VM pod is
#     replaced and the new ones are Ready; new tenant CA, new front-proxy CA,
#     front-proxy-client and every tenant-CA-signed Secret re-signed; new
#     admin kubeconfig 0600 and working, the old one and its credential
#     refused -- all checked here, independently of hsmca's messages;
#  2. --method annotate on Secrets carrying an earlier rotation's timestamp
#     completes within --timeout and both CAs change;
#  3. a tenant whose VM pods cannot be found is refused before anything is
#     deleted, naming the selector; --no-wait-workers is the way out;
#     Sleeping refused, WriteLimited rotated; --keep-front-proxy-ca keeps it;
#     Secrets absent before the run (no konnectivity addon) are not awaited;
#  4. no private key bytes anywhere; the audit chain verifies.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
. "$HSMCA_TEST_SRCDIR/tests/integration/lib/kube_tenant.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
KT_VMS=3
# VMs are replaced 3 s after the CA changes: long enough that a run which
# does not await them is caught by the checks right after it exits.
kt_start_double --vm-restart-delay 3 --pod-ready-delay 0.5
it_ok "$HSMCA" init --softhsm >/dev/null
JDIR=$HSMCA_HOME/tenant/$KT_NS-$KT_NAME
ROT=(tenant rotate-ca --name "$KT_NAME" --namespace "$KT_NS" --kubeconfig "$KT_KUBECONFIG"
	--timeout 60s)
kt_collect_keys
fp_ca() { kt_secret_field ca 'fp("ca.crt")'; }
fp_fpca() { kt_secret_field front-proxy-ca-certificate 'fp("front-proxy-ca.crt")'; }

# --- 1. dry run ---
before=$(kt_snapshot)
it_assert_eq 13 "$(grep -c "^secret $KT_NS/$KT_NAME-" <<<"$before")" "the double holds Kamaji's 13 Secrets"
vms=$(kt_vm_pods)
it_assert_eq 3 "$(grep -c ' True False$' <<<"$vms")" "3 worker VM launcher pods, Ready"
kt_ctl DELETE /requests >/dev/null
out=$(it_ok hs "${ROT[@]}")
fpuid=$(awk -v k="$KT_NS/$KT_NAME-front-proxy-ca-certificate" '$1 == "secret" && $2 == k {print $3}' <<<"$before")
it_assert_contains "$out" "  $KT_NAME-front-proxy-ca-certificate (uid $fpuid," \
	"dry run names the front-proxy CA Secret for deletion"
while read -r _ pod _; do
	it_assert_contains "$out" "      $pod (uid " "dry run lists worker VM pod $pod"
done <<<"$vms"
it_assert_contains "$out" "-l cluster.x-k8s.io/cluster-name=$KT_NAME,kubevirt.io=virt-launcher" \
	"dry run names the worker VM selector"
it_assert_contains "$out" "$KT_NAME-datastore-config (no certificate)" "dry run leaves datastore-config alone"
it_assert_eq 12 "$(grep -c "^  $KT_NAME-.* (uid " <<<"$out")" "dry run lists twelve Secrets to delete"
it_assert_eq "$before" "$(kt_snapshot)" "dry run changed nothing"
it_assert_eq "GET" "$(kt_request_methods)" "dry run sent only GETs"
out=$(it_ok hs tenant rotate-ca --name foo --namespace "$KT_NS" --kubeconfig "$KT_KUBECONFIG")
it_assert_contains "$out" "no TenantControlPlane foo; using $KT_NAME" \
	"--name foo: takes Cozystack's kubernetes-foo and says so"
it_expect_fail 1 "nor $KT_NS/kubernetes-bar" hs tenant rotate-ca --name bar --namespace "$KT_NS" \
	--kubeconfig "$KT_KUBECONFIG"

# --- 1. the real run ---
old_fp=$(fp_ca)
old_fpfp=$(fp_fpca)
ds_uid=$(kt_secret_uid "$KT_NAME-datastore-config")
kt_save_admin_kubeconfig "$WORK/old-admin.kubeconfig"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$WORK/old-admin.kubeconfig")" "old admin kubeconfig works before"
out=$(it_ok hs "${ROT[@]}" --dry-run=false)
vms_after=$(kt_vm_pods) # at once: a run that did not await the VMs would show old pods here
stale=$(comm -12 <(awk '{print $3}' <<<"$vms" | sort) <(awk '{print $3}' <<<"$vms_after" | sort))
it_assert_eq "" "$stale" "when hsmca exited no old VM pod was left"
it_assert_eq 3 "$(grep -c ' True False$' <<<"$vms_after")" "when hsmca exited 3 new VM pods were Ready"
it_assert_eq "$(awk '{print $1}' <<<"$vms")" "$(awk '{print $1}' <<<"$vms_after")" "the same 3 VMs, new pods"
new_fp=$(fp_ca)
new_fpfp=$(fp_fpca)
[[ "$new_fp" != "$old_fp" ]] && it_pass "new tenant CA" || it_fail "tenant CA unchanged"
[[ "$new_fpfp" != "$old_fpfp" ]] && it_pass "new front-proxy CA" || it_fail "front-proxy CA unchanged"
it_assert_eq True "$(kt_secret_field front-proxy-client-certificate \
	'signed_by("front-proxy-client.crt", "front-proxy-ca-certificate", "front-proxy-ca.crt")')" \
	"front-proxy-client is signed by the new front-proxy CA"
for pair in api-server-certificate:apiserver.crt \
	api-server-kubelet-client-certificate:apiserver-kubelet-client.crt \
	konnectivity-certificate:tls.crt admin-kubeconfig:admin.conf admin-kubeconfig:super-admin.conf \
	controller-manager-kubeconfig:controller-manager.conf scheduler-kubeconfig:scheduler.conf \
	konnectivity-kubeconfig:konnectivity-server.conf; do
	it_assert_eq True "$(kt_secret_field "${pair%%:*}" "signed_by(\"${pair#*:}\", \"ca\", \"ca.crt\")")" \
		"$pair is signed by the new tenant CA"
done
it_assert_eq "$ds_uid" "$(kt_secret_uid "$KT_NAME-datastore-config")" "datastore-config untouched"
it_assert_contains "$out" "old front-proxy CA:   $old_fpfp" "result: old front-proxy CA fingerprint"
it_assert_contains "$out" "new front-proxy CA:   $new_fpfp" "result: new front-proxy CA fingerprint"
audit=$(grep '"event":"tenant-rotate"' "$HSMCA_HOME/audit.log" | tail -1)
for f in "\"old_ca_sha256\":\"$old_fp\"" "\"new_ca_sha256\":\"$new_fp\"" \
	"\"old_front_proxy_ca_sha256\":\"$old_fpfp\"" "\"new_front_proxy_ca_sha256\":\"$new_fpfp\""; do
	it_assert_contains "$audit" "$f" "audit: $f"
done
KC=$WORK/$KT_NAME-admin.kubeconfig
it_assert_eq 600 "$(stat -c %a "$KC")" "new admin kubeconfig is 0600"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$KC")" "new admin kubeconfig works (independent check)"
r=$(kt_probe_kubeconfig "$WORK/old-admin.kubeconfig")
[[ "$r" == tls* ]] && it_pass "old admin kubeconfig refused at server verification ($r)" || it_fail "old: $r"
it_assert_eq "http 401" "$(kt_probe_mixed "$WORK/old-admin.kubeconfig" "$KC")" \
	"old client certificate with the new CA trusted: 401 (independent check)"

# --- 2. annotate, on Secrets carrying an earlier rotation's time ---
kt_secret_annotate ca 2025-07-15T15:15:08Z
kt_secret_annotate front-proxy-ca-certificate 2025-07-15T15:15:08Z
old_fp=$(fp_ca)
old_fpfp=$(fp_fpca)
ca_uid=$(kt_secret_uid "$KT_NAME-ca")
kt_ctl DELETE /requests >/dev/null
# Exit 0 means done within --timeout (the wait step's deadline).
out=$(it_ok hs "${ROT[@]}" --dry-run=false --method annotate --timeout 30s)
[[ "$(fp_ca)" != "$old_fp" ]] && it_pass "annotate: new tenant CA" || it_fail "annotate: CA unchanged"
[[ "$(fp_fpca)" != "$old_fpfp" ]] && it_pass "annotate: new front-proxy CA" || it_fail "annotate: FP CA unchanged"
it_assert_eq "$ca_uid" "$(kt_secret_uid "$KT_NAME-ca")" "annotate: rotated in place (same uid)"
ann=$(kt_secret_field ca ann)
[[ "$ann" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T && "$ann" != 2025-07-15T15:15:08Z ]] &&
	it_pass "annotate: Kamaji kept the annotation with the new rotation's time ($ann)" ||
	it_fail "annotate: annotation is '$ann'"
it_assert_eq 0 "$(kt_count_requests DELETE "/secrets/")" "annotate: no Secret deleted"
it_assert_eq 2 "$(kt_count_requests PATCH "/secrets/$KT_NAME-(ca|front-proxy-ca-certificate)$" 200)" \
	"annotate: the two CA Secrets patched once each"
it_assert_eq "ok v1.33.1" "$(kt_probe_kubeconfig "$KC")" "annotate: new admin kubeconfig works"

# --- issue 11: a tenant API server that keeps trusting the removed CA ---
kt_save_admin_kubeconfig "$WORK/old3-admin.kubeconfig"
kt_ctl POST /faults '{"tenant_trusts_removed_ca": true}' >/dev/null
it_expect_fail 1 "OLD admin client certificate is still accepted" hs "${ROT[@]}" --dry-run=false
it_assert_eq "ok v1.33.1" "$(kt_probe_mixed "$WORK/old3-admin.kubeconfig" "$KC")" \
	"the double really still accepts the old credential (so the refusal above is real)"
[[ -f "$JDIR/journal.jsonl" ]] && it_pass "the rotation is not closed: journal kept" || it_fail "journal closed"
it_assert_eq 0 "$(grep -c '"step":"proved"' "$JDIR/journal.jsonl" || true)" "no proof journaled"
grep -q '"event":"tenant-rotate","object":"tenant '"$KT_NS/$KT_NAME"'","outcome":"failed"' "$HSMCA_HOME/audit.log" &&
	it_pass "the failure is in the audit log" || it_fail "no failed audit line"
kt_ctl POST /faults '{}' >/dev/null
it_ok hs "${ROT[@]}" --resume >/dev/null
it_assert_eq "http 401" "$(kt_probe_mixed "$WORK/old3-admin.kubeconfig" "$KC")" \
	"once the server drops the old CA the old credential gets 401"
kt_collect_keys
kt_scan_no_keys "$WORK/outputs/stdout" "$WORK/outputs/stderr" "$HSMCA_HOME/audit.log" "$JDIR"/*.jsonl
it_assert_eq '{"violations": []}' "$(kt_ctl GET /violations | tr -d '\n ' | sed 's/:/: /')" \
	"the double's oracle saw no private key sent by hsmca"
kt_stop_double

# --- 3. a tenant whose worker VM pods cannot be found ---
# Its VMs carry another cluster's label, as when --name names the wrong TCP.
rm -rf "$WORK/kube"
# No konnectivity addon either: its two Secrets do not exist, and a run must
# neither delete nor await them.
kt_start_double --vm-cluster-label kubernetes-other --no-konnectivity
kt_collect_keys
ROT=(tenant rotate-ca --name "$KT_NAME" --namespace "$KT_NS" --kubeconfig "$KT_KUBECONFIG" --timeout 60s)
before=$(kt_snapshot)
kt_ctl DELETE /requests >/dev/null
sel="-l cluster.x-k8s.io/cluster-name=$KT_NAME,kubevirt.io=virt-launcher"
it_expect_fail 1 "$sel" hs "${ROT[@]}" --dry-run=false
it_assert_contains "$(cat "$IT_ERR")" "--no-wait-workers" "the refusal names the way out"
it_assert_eq 0 "$(kt_count_requests DELETE /)" "refused before anything was deleted"
it_assert_eq "GET" "$(kt_request_methods)" "refused run sent only GETs"
it_assert_eq "$before" "$(kt_snapshot)" "refused run changed nothing"
[[ ! -e "$JDIR/journal.jsonl" ]] && it_pass "refused run left no journal" || it_fail "journal left"
it_expect_fail 1 "a real run would be refused: no worker VM pod" hs "${ROT[@]}"
it_assert_contains "$(cat "$IT_OUT")" "  $KT_NAME-konnectivity-kubeconfig (absent now: not deleted, not awaited)" \
	"dry run: a Secret absent before is neither deleted nor awaited"

# Sleeping: refused; WriteLimited: rotated (as Kamaji's computeStatus).
wait_status() {
	for ((i = 0; i < 100; i++)); do
		[[ "$(kt_tenant status)" == "$1" ]] && return 0
		sleep 0.1
	done
	return 1
}
kt_tcp_patch '{"spec":{"controlPlane":{"deployment":{"replicas":0}}}}'
wait_status Sleeping && it_pass "TenantControlPlane Sleeping" || it_fail "status $(kt_tenant status)"
it_expect_fail 1 "is Sleeping" hs "${ROT[@]}" --dry-run=false --no-wait-workers
it_assert_eq 0 "$(kt_count_requests DELETE /)" "Sleeping: nothing deleted"
kt_tcp_patch '{"spec":{"controlPlane":{"deployment":{"replicas":2}},"writePermissions":{"blockCreation":true}}}'
wait_status WriteLimited && it_pass "TenantControlPlane WriteLimited" || it_fail "status $(kt_tenant status)"
old_fp=$(fp_ca)
old_fpfp=$(fp_fpca)
out=$(it_ok hs "${ROT[@]}" --dry-run=false --no-wait-workers --keep-front-proxy-ca)
it_assert_contains "$(cat "$IT_ERR")" "is WriteLimited" "WriteLimited: said what it means for the wait"
[[ "$(fp_ca)" != "$old_fp" ]] && it_pass "WriteLimited: new tenant CA" || it_fail "CA unchanged"
it_assert_eq "$old_fpfp" "$(fp_fpca)" "--keep-front-proxy-ca: the front-proxy CA is kept"
it_assert_contains "$out" "front-proxy CA:       kept (--keep-front-proxy-ca)" "... and the result says so"
it_assert_eq 9 "$(kt_count_requests DELETE "^/api/v1/namespaces/$KT_NS/secrets/" 200)" \
	"--keep-front-proxy-ca: the seed's eleven Secrets but the two absent konnectivity ones deleted"
it_assert_eq "" "$(kt_secret_uid "$KT_NAME-konnectivity-kubeconfig")" \
	"the absent konnectivity Secret was not awaited (and is still absent)"

# --- 4. no private key bytes; the audit chain ---
kt_collect_keys
kt_scan_no_keys "$WORK/outputs/stdout" "$WORK/outputs/stderr" "$HSMCA_HOME/audit.log" \
	"$HSMCA_HOME"/tenant/*/*.jsonl
it_assert_eq '{"violations": []}' "$(kt_ctl GET /violations | tr -d '\n ' | sed 's/:/: /')" \
	"the second double's oracle saw no private key either"
it_assert_contains "$(it_ok "$HSMCA" audit verify)" "hash chain intact" "hsmca audit verify passes"
kt_stop_double
it_summary
