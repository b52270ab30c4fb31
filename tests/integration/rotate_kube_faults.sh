#!/usr/bin/env bash
# Issue 6, management cluster: faults, edge cases and the combined run, against
# a SIMULATED cluster (Talos API double, 2 control planes + 1 worker, and a
# Kubernetes API double per control plane; tests/doubles/talos_cluster.sh):
#   - cp2's machine config has a KubeAPIServerCAConfig document: its
#     acceptedCAs (plain PEM) are edited there, never cluster.acceptedCAs;
#   - the API servers run with anonymous auth and drop client certificates
#     whose issuer they do not name (Go TLS clients do): GET /version then
#     answers 200 to a revoked credential, so hsmca must prove revocation
#     with SelfSubjectReview, and does (the independent probe shows the trap);
#   - an API server that is down: the dry run says so and changes nothing;
#     during verify-new the rotation stops with the node's API server named,
#     the journal is kept, and --resume finishes once it is back;
#   - --abort before distrust-old: the new CA leaves every control plane, the
#     kubeconfig is re-issued by the old CA and works, the new key is gone;
#   - --talos=true --kubernetes=true: Talos first, then Kubernetes, both
#     credentials work;
#   - bad input: wrong number of --k8s-node-endpoints, an http:// endpoint, a
#     kubeconfig without certificate-authority-data, kube flags without
#     --kubernetes=true: exit 1/2 with the reason, nothing changed.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

KUBE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_kube.sh"
TALOS_CLUSTER_KUBE_ANON=drop-untrusted TALOS_CLUSTER_KUBE_CA_DOC=cp2 kube_setup 2 1
export HSMCA_ROTATE_SETTLE=4

KROT=(-f "$NODEFILE" rotate-ca --talos=false --kubernetes=true --k8s-node-endpoints "$KUBE_API_URLS")

# The project kubeconfig checks the API servers' certificate for a DNS name
# (tls-server-name), as when the endpoint is an address the certificate does
# not list: hsmca must verify every API server for that name and keep it.
sed -i 's/^    server: \(.*\)$/    server: \1\n    tls-server-name: kubernetes.default.svc/' "$KC"
grep -q "tls-server-name: kubernetes.default.svc" "$KC" || it_fail "could not add tls-server-name"

# knode NAME: "cluster=<fps> kube=<fps>" of one node.
knode() {
	rot_state | "$PY" -c 'import json,sys
n = [x for x in json.load(sys.stdin)["nodes"] if x["name"] == sys.argv[1]][0]
print("cluster=%s kube=%s" % (",".join(n["cluster_accepted"]) or "-",
      "none" if n["kube_accepted"] is None else ",".join(n["kube_accepted"]) or "-"))' "$1"
}

kapi() { # kapi NAME down|up
	"$PY" -c 'import sys,urllib.request
r = urllib.request.Request(sys.argv[1] + "/apiserver?name=" + sys.argv[2] + "&down=" + sys.argv[3],
                           method="POST", headers={"Authorization": "Bearer " + sys.argv[4]})
urllib.request.urlopen(r, timeout=10).read()' "$KUBE_CONTROL" "$1" "$([[ $2 == down ]] && echo 1 || echo 0)" "$KUBE_CONTROL_TOKEN"
}

# --- bad input (nothing may change)
rot_snapshot bad0
rot_expect 1 too-few "${KROT[@]:0:5}" --k8s-node-endpoints "${KUBE_API_URLS%%,*}"
grep -q "lists 1 URL(s) for 2 control-plane node(s)" "$ROT_ERR" &&
	it_pass "one --k8s-node-endpoints URL for two control planes: says so" || it_fail "count message: $(cat "$ROT_ERR")"
rot_expect 1 http-url "${KROT[@]:0:5}" --k8s-node-endpoints "http://127.0.0.1:1,http://127.0.0.1:2"
grep -q "must be an https:// URL" "$ROT_ERR" && it_pass "http:// API server URL refused" ||
	it_fail "http message: $(cat "$ROT_ERR")"
grep -v "certificate-authority-data" "$KC" >"$WORK/noca.kc"
rot_expect 1 no-ca "${KROT[@]}" --kubeconfig "$WORK/noca.kc"
grep -q "has no certificate-authority(-data)" "$ROT_ERR" &&
	it_pass "kubeconfig without the API server's CA: says so" || it_fail "no-ca message: $(cat "$ROT_ERR")"
rot_expect 2 kube-flag-alone -f "$NODEFILE" rotate-ca --kubeconfig "$KC"
rot_snapshot bad1
cmp -s "$WORK/snap-bad0" "$WORK/snap-bad1" && it_pass "bad input changed nothing" ||
	it_fail "bad input changed: $(diff "$WORK/snap-bad0" "$WORK/snap-bad1" | head)"

sed 's/tls-server-name: kubernetes.default.svc/tls-server-name: not-the-apiserver.example/' "$KC" >"$WORK/wrongname.kc"
chmod 600 "$WORK/wrongname.kc"
rot_expect 1 wrong-name "${KROT[@]}" --kubeconfig "$WORK/wrongname.kc"
grep -qi "certificate" "$ROT_OUT" "$ROT_ERR" &&
	it_pass "a tls-server-name the API servers' certificate does not hold: refused at the dry run" ||
	it_fail "wrong tls-server-name: $(tail -3 "$ROT_ERR")"

# --- an API server down at the dry run: reported, nothing changed
kapi cp2 down
rot_expect 1 dry-down "${KROT[@]}"
grep -q "PROBLEM: node 127.0.0.1:[0-9]*: Kubernetes API https://127.0.0.1:" "$ROT_OUT" "$ROT_ERR" &&
	it_pass "dry run names the unreachable API server" || it_fail "dry run down: $(cat "$ROT_OUT" "$ROT_ERR" | tail -5)"
rot_expect 1 real-down "${KROT[@]}" --dry-run=false
grep -q "preflight" "$ROT_ERR" && [[ ! -e "$HSMCA_HOME/rotate/journal" && -z "$(rot_keys)" ]] &&
	it_pass "a real run refuses at preflight: no journal, no key" || it_fail "real run with an API server down: $(cat "$ROT_ERR")"
kapi cp2 up

# --- first adoption; cp2 keeps its list in the KubeAPIServerCAConfig document
before_cp2=$(knode cp2)
rot_expect 0 adopt "${KROT[@]}" --dry-run=false
g1=$(rot_fp kubernetes-access-g1)
it_assert_eq "cluster=$g1 kube=none" "$(knode cp1)" "cp1: cluster.acceptedCAs holds g1"
it_assert_eq "cluster=${before_cp2#cluster=}" "$(knode cp2 | sed "s/kube=$g1/kube=-/")" \
	"cp2: cluster.acceptedCAs untouched (the document's list is the one that counts)"
[[ "$(knode cp2)" == *"kube=$g1" ]] && it_pass "cp2: KubeAPIServerCAConfig.acceptedCAs holds g1" ||
	it_fail "cp2: $(knode cp2)"
it_assert_eq "cluster=- kube=none" "$(knode w1)" "the worker is untouched"
kprobe_expect "$KC" "ok hsmca-admin"

# --- the anonymous trap: revoke g1 and compare the probes
cp "$KC" "$WORK/g1.kc"
rot_expect 0 rotate "${KROT[@]}" --dry-run=false
kprobe_expect "$WORK/g1.kc" "ok" version
kprobe_expect "$WORK/g1.kc" "refused 403" ssr
grep -q "refused a certificate of kubernetes-access-g1" "$ROT_OUT" &&
	it_pass "hsmca proved revocation although GET /version still answers the old credential" ||
	it_fail "prove-revoked: $(grep prove-revoked "$ROT_OUT")"
it_assert_eq "kubernetes-access-g2-key" "$(rot_keys)" "g1's key destroyed"

# --- an API server down during verify-new: stop, keep the journal, resume
cp "$KC" "$WORK/g2.kc"
rc=0
HSMCA_FAULT=verify-new:before rot kill "${KROT[@]}" --dry-run=false || rc=$?
it_assert_eq 137 "$rc" "killed before verify-new"
kapi cp2 down
rc=0
rot resume-down rotate-ca --resume --dry-run=false || rc=$?
it_assert_eq 1 "$rc" "resume with cp2's API server down fails"
grep -q "verify-new.*Kubernetes API https://127.0.0.1:" "$ROT_ERR" &&
	it_pass "the error names the step and the API server" || it_fail "error: $(cat "$ROT_ERR")"
"$HSMCA" --json rotate status 2>/dev/null | "$PY" -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["active"] and s["target"] == "kubernetes" and "Kubernetes API https://127.0.0.1:" in s["last_error"] else 1)' &&
	it_pass "journal kept, the failure recorded" || it_fail "status after the failure"
kapi cp2 up
rot_expect 0 resume-up rotate-ca --resume --dry-run=false
it_assert_eq "kubernetes-access-g3" "$(kcurrent)" "resumed to kubernetes-access-g3"
kprobe_expect "$KC" "ok hsmca-admin"
kprobe_expect "$WORK/g2.kc" "refused 403" ssr

# --- abort before distrust-old
cp "$KC" "$WORK/g3.kc"
rc=0
HSMCA_FAULT=verify-new:after rot kill2 "${KROT[@]}" --dry-run=false || rc=$?
it_assert_eq 137 "$rc" "killed after verify-new"
rot_expect 0 abort rotate-ca --abort --dry-run=false
g3=$(rot_fp kubernetes-access-g3)
[[ "$(knode cp1)" == "cluster=$g3 kube=none" && "$(knode cp2)" == *"kube=$g3" ]] &&
	it_pass "abort: every control plane accepts only g3 again" || it_fail "abort: $(knode cp1) / $(knode cp2)"
it_assert_eq "kubernetes-access-g3" "$(kcurrent)" "abort: g3 stays current"
it_assert_eq "kubernetes-access-g3-key" "$(rot_keys)" "abort: the new key is destroyed"
kprobe_expect "$KC" "ok hsmca-admin"
"$PY" -c 'import base64,sys,yaml
k = yaml.safe_load(open(sys.argv[1]))
sys.stdout.write(base64.b64decode(k["users"][0]["user"]["client-certificate-data"]).decode())' "$KC" >"$WORK/abort.crt"
openssl verify -partial_chain -CAfile "$HSMCA_HOME/cas/kubernetes-access-g3/ca.pem" "$WORK/abort.crt" >/dev/null 2>&1 &&
	it_pass "abort: the kubeconfig was re-issued by g3 (openssl verify)" || it_fail "abort: kubeconfig issuer"

# --- both: Talos first, then Kubernetes
rot_save_key "$TC" machine
rot_expect 0 both -f "$NODEFILE" rotate-ca --talos=true --kubernetes=true \
	--k8s-node-endpoints "$KUBE_API_URLS" --dry-run=false
t=$(grep -n "is the Talos access CA" "$ROT_OUT" | cut -d: -f1)
k=$(grep -n "is the Kubernetes access CA" "$ROT_OUT" | cut -d: -f1)
[[ -n "$t" && -n "$k" && $t -lt $k ]] && it_pass "both: Talos rotation finished first, then Kubernetes" ||
	it_fail "both: order ($t, $k)"
it_assert_eq "talos-access-g1" "$(cat "$HSMCA_HOME/talos/access-ca")" "both: Talos access CA adopted"
it_assert_eq "kubernetes-access-g5" "$(kcurrent)" "both: Kubernetes access CA rotated (g4 was aborted)"
out=$("$CLUSTER_SH" probe "$C" "$TC" 2>&1 | awk '$2 != "ok"')
[[ -z "$out" ]] && it_pass "both: the new talosconfig works on every node" || it_fail "both: talos probe $out"
kprobe_expect "$KC" "ok hsmca-admin"
kprobe_expect "$WORK/g3.kc" "refused 403" ssr
grep -q '^    tls-server-name: "kubernetes.default.svc"$' "$KC" &&
	it_pass "the rotated kubeconfig keeps tls-server-name" || it_fail "tls-server-name lost: $(grep -n tls "$KC")"

rot_check_oracle
rot_leak_scan
it_summary
