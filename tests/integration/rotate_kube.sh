#!/usr/bin/env bash
# Issue 6, "What it must show", item 1 (management cluster) and item 4, against
# a SIMULATED cluster: the Talos API double (3 control planes + 1 worker) and
# a Kubernetes API double playing each control plane's kube-apiserver, whose
# client-CA bundle follows that node's cluster.acceptedCAs
# (tests/doubles/talos_cluster.sh with TALOS_CLUSTER_KUBE=1):
#   - the dry run prints the plan (control planes only, their API servers)
#     and changes nothing (token objects, node configs, files);
#   - first adoption, then a real rotation: the new kubeconfig is accepted by
#     every API server (an independent Python probe: SelfSubjectReview names
#     hsmca-admin), the old one gets 401, the old key is destroyed, the audit
#     log shows every step in order, the worker's config is untouched, the
#     control planes' node files carry exactly the new CA;
#   - kill -9 at every step (one rotation killed seven times, resumed after
#     each) reaches the same end, with the invariants checked at each kill;
#   - `kube issue-config`: a kube-user credential is accepted as that user
#     with its groups, system:masters refused;
#   - no private key bytes in any file hsmca wrote (except the 0600
#     kubeconfig), its output, journal or audit log; the doubles' oracles saw
#     no private key in any request.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
ROTATE_LIB_ONLY=1 . "$HSMCA_TEST_SRCDIR/tests/integration/rotate_basic.sh"

# kube_setup CP WORKERS: rot_setup with the Kubernetes double (one API
# server per control plane); TALOS_CLUSTER_KUBE_* switches pass through.
kube_setup() {
	NCP=$1
	it_setup
	cd "$WORK"
	mkdir -p "$WORK/outs"
	OUTN=0
	"$HSMCA" init --softhsm >/dev/null 2>&1 || { it_fail "hsmca init --softhsm"; return 1; }
	C=$WORK/cluster
	it_defer "$CLUSTER_SH" stop "$C"
	TALOS_CLUSTER_KUBE=1 TALOS_CLUSTER_DEADLINE=900 "$CLUSTER_SH" start "$C" "$1" "$2" \
		>"$WORK/cluster.out" 2>&1 || { cat "$WORK/cluster.out" >&2; it_fail "start the simulated cluster"; return 1; }
	# shellcheck disable=SC1091
	. "$C/cluster.env"
	it_register_pid "$TALOS_DOUBLE_PID"
	it_register_pid "$KUBE_DOUBLE_PID"
	PROJECT=$TALOS_PROJECT
	NODEFILE=$TALOS_NODE_FILE
	TC=$TALOS_TALOSCONFIG
	CONTROL=$TALOS_CONTROL
	KC=$KUBE_KUBECONFIG
	export HSMCA_TALOS_DEADLINE=${HSMCA_TALOS_DEADLINE:-4}
	export HSMCA_ROTATE_SETTLE=${HSMCA_ROTATE_SETTLE:-5}
	export ROT_SECRET_FILES=kubeconfig
	unset HSMCA_FAULT KUBECONFIG
}

# krot NAME ARGS...: a Kubernetes rotation of the project.
krot() {
	local name=$1
	shift
	rot "$name" -f "$NODEFILE" rotate-ca --talos=false --kubernetes=true \
		--k8s-node-endpoints "$KUBE_API_URLS" "$@"
}

kcurrent() {
	cat "$HSMCA_HOME/kubernetes/access-ca" 2>/dev/null || true
}

# kprobe_expect KUBECONFIG WANT [ssr|version]: every API server answers the
# independent probe with WANT ("ok USER", "refused 401"; with version, "ok"
# is followed by the server's version).
kprobe_expect() {
	local kc=$1 want=$2 mode=${3:-ssr} out bad n
	out=$("$CLUSTER_SH" kprobe "$C" "$kc" "$mode" 2>&1) || true
	bad=$(printf '%s\n' "$out" | awk -v w="$want" -v m="$mode" '{ $1 = ""; sub(/^ /, "") }
		(m == "ssr" && $0 != w) || (m != "ssr" && index($0, w) != 1)')
	n=$(printf '%s\n' "$out" | grep -c .)
	if [[ -z "$bad" && $n == "$NCP" ]]; then
		it_pass "$(basename "$kc") ($mode): \"$want\" from all $NCP API servers"
	else
		it_fail "$(basename "$kc") ($mode): expected \"$want\" from all $NCP API servers, got: $out"
	fi
}

# kaccepted: "name role fps" per node (cluster.acceptedCAs, or the
# KubeAPIServerCAConfig document's list where a node has one).
kaccepted() {
	rot_state | "$PY" -c 'import json,sys
for n in json.load(sys.stdin)["nodes"]:
    l = n["kube_accepted"] if n.get("kube_accepted") is not None else n["cluster_accepted"]
    print(n["name"], n["role"], ",".join(l) or "-")'
}

# kcheck_accepted FP: every control plane accepts exactly FP; the worker none.
kcheck_accepted() {
	local bad
	bad=$(kaccepted | awk -v fp="$1" '($2 == "controlplane" && $3 != fp) || ($2 == "worker" && $3 != "-")')
	[[ -z "$bad" ]] && it_pass "control planes accept exactly ${1:0:12}…, the worker nothing" ||
		it_fail "accepted CAs: $bad"
}

kcheck_oracles() {
	local n
	rot_check_oracle
	n=$("$PY" -c 'import json,sys,urllib.request
r = urllib.request.Request(sys.argv[1] + "/violations", headers={"Authorization": "Bearer " + sys.argv[2]})
print(len(json.loads(urllib.request.urlopen(r, timeout=10).read())["violations"]))' "$KUBE_CONTROL" "$KUBE_CONTROL_TOKEN")
	it_assert_eq "0" "$n" "Kubernetes double oracle: no private key in any request"
}

# ksnapshot NAME: rot_snapshot plus the kubeconfig and the CA bundles.
ksnapshot() {
	rot_snapshot "$1"
	{ sha256sum "$KC"; sha256sum "$C"/kube-ca-bundles/*.pem; } >>"$WORK/snap-$1"
}

# kcheck_end OLD NEW OLDKC: the end state of a finished rotation OLD -> NEW.
kcheck_end() {
	local old=$1 new=$2 oldkc=$3
	it_assert_eq "$new" "$(kcurrent)" "current Kubernetes access CA is $new"
	[[ ! -e "$HSMCA_HOME/rotate/journal" ]] && it_pass "journal archived" || it_fail "a journal is still active"
	kcheck_accepted "$(rot_fp "$new")"
	rot_check_node_files "$(rot_fp "$new")" cluster 1
	kprobe_expect "$KC" "ok hsmca-admin"
	kprobe_expect "$oldkc" "refused 401"
	it_assert_eq "$new-key" "$(rot_keys)" "the token holds only $new-key ($old-key destroyed)"
	[[ -f "$HSMCA_HOME/cas/$old/retired.json" ]] && it_pass "$old kept as retired" ||
		it_fail "$old not marked retired"
	it_assert_eq "600" "$(stat -c %a "$KC")" "kubeconfig mode 0600"
	rot_check_audit "$(rot_last_id)" 1
}

# kcheck_killed POINT OLD OLDKC: invariants after kill -9 at POINT.
kcheck_killed() {
	local p=$1 old=$2 oldkc=$3 st newca oldfp newfp bad
	st=$("$HSMCA" --json rotate status 2>/dev/null)
	"$PY" -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s["active"] and not s["running"] and s["target"] == "kubernetes" else 1)' "$st" &&
		it_pass "$p: journal kept, lock free after kill -9" || it_fail "$p: status after kill: $st"
	if ! "$PY" -c 'import json,sys; s={x["step"]: x for x in json.loads(sys.argv[1])["steps"]}
sys.exit(0 if s["prove-revoked"]["state"] == "done" else 1)' "$st"; then
		[[ " $(rot_keys) " == *" $old-key "* ]] && it_pass "$p: old key still in the token" ||
			it_fail "$p: old key gone before revocation was proven: $(rot_keys)"
	fi
	newca=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["new_ca"])' "$st")
	oldfp=$(rot_fp "$old")
	newfp=$([[ -f "$HSMCA_HOME/cas/$newca/ca.yaml" ]] && rot_fp "$newca" || echo none)
	bad=$(kaccepted | awk -v o="$oldfp" -v n="$newfp" '$2 == "controlplane" && index($3, o) == 0 && index($3, n) == 0')
	[[ -z "$bad" ]] && it_pass "$p: every control plane accepts the old or the new CA" ||
		it_fail "$p: control planes trusting neither: $bad"
	if "$PY" -c 'import json,sys; s={x["step"]: x for x in json.loads(sys.argv[1])["steps"]}
sys.exit(0 if s["distrust-old"]["state"] == "pending" else 1)' "$st"; then
		kprobe_expect "$oldkc" "ok hsmca-admin"
	fi
}

[[ ${KUBE_LIB_ONLY:-0} == 1 ]] && return 0

# ---------------------------------------------------------------- test

kube_setup 3 1
cp "$KC" "$WORK/cluster-ca.kc"        # the original: signed by the cluster's Kubernetes CA
kprobe_expect "$KC" "ok kubernetes-admin"

# --- first adoption: dry run, then real
ksnapshot before
rot_expect 0 dry-adopt -f "$NODEFILE" rotate-ca --talos=false --kubernetes=true \
	--k8s-node-endpoints "$KUBE_API_URLS"
grep -q "Target: Kubernetes API access CA" "$ROT_OUT" && grep -q "Preflight: OK" "$ROT_OUT" &&
	it_pass "dry run: Kubernetes plan, preflight OK" || it_fail "dry run output: $(cat "$ROT_OUT" "$ROT_ERR")"
n=$(grep -c "controlplane .*API server https://127.0.0.1:" "$ROT_OUT" || true)
it_assert_eq "$NCP" "$n" "dry run lists the $NCP control planes with their API servers"
grep -q " worker " "$ROT_OUT" && it_fail "dry run lists the worker" || it_pass "dry run leaves the worker out"
grep -q "current client certificate signed by: cluster CA" "$ROT_OUT" &&
	it_pass "dry run: the current kubeconfig is the cluster CA's" || it_fail "dry run: issuer line"
ksnapshot after
cmp -s "$WORK/snap-before" "$WORK/snap-after" && it_pass "dry run changed nothing" ||
	it_fail "dry run changed: $(diff "$WORK/snap-before" "$WORK/snap-after" | head -20)"

rot_expect 0 adopt -f "$NODEFILE" rotate-ca --talos=false --kubernetes=true \
	--k8s-node-endpoints "$KUBE_API_URLS" --dry-run=false
it_assert_eq "kubernetes-access-g1" "$(kcurrent)" "first adoption: kubernetes-access-g1"
kcheck_accepted "$(rot_fp kubernetes-access-g1)"
rot_check_node_files "$(rot_fp kubernetes-access-g1)" cluster 1
kprobe_expect "$KC" "ok hsmca-admin"
kprobe_expect "$WORK/cluster-ca.kc" "ok kubernetes-admin"   # a first adoption revokes nothing
grep -q "skipped: first adoption" "$ROT_OUT" && it_pass "adoption skips steps 5-7" || it_fail "adoption output"
rot_check_audit "$(rot_last_id)" 0

# --- a real rotation g1 -> g2, after a dry run that changes nothing
cp "$KC" "$WORK/g1.kc"
ksnapshot before2
rot_expect 0 dry-rotate -f "$NODEFILE" rotate-ca --talos=false --kubernetes=true \
	--k8s-node-endpoints "$KUBE_API_URLS"
grep -q "revocation probe: a 1-hour kube-user certificate of kubernetes-access-g1" "$ROT_OUT" &&
	it_pass "dry run names the revocation probe" || it_fail "dry run: probe line"
ksnapshot after2
cmp -s "$WORK/snap-before2" "$WORK/snap-after2" && it_pass "dry run (rotation) changed nothing" ||
	it_fail "dry run changed: $(diff "$WORK/snap-before2" "$WORK/snap-after2" | head -20)"
rot_expect 0 rotate -f "$NODEFILE" rotate-ca --talos=false --kubernetes=true \
	--k8s-node-endpoints "$KUBE_API_URLS" --dry-run=false
kcheck_end kubernetes-access-g1 kubernetes-access-g2 "$WORK/g1.kc"
grep -q "refused a certificate of kubernetes-access-g1" "$ROT_OUT" &&
	it_pass "prove-revoked reported per node" || it_fail "prove-revoked output"
# Talos access is untouched by a Kubernetes rotation.
out=$("$CLUSTER_SH" probe "$C" "$TC" 2>&1 | awk '$2 != "ok"')
[[ -z "$out" && ! -e "$HSMCA_HOME/talos/access-ca" ]] &&
	it_pass "the talosconfig still works on every node; no Talos access CA was made" ||
	it_fail "Talos side changed: $out"

# --- kube issue-config
rot_expect 0 issue-alice kube issue-config --user alice --group dev --group ops --out "$WORK/alice.kc"
kprobe_expect "$WORK/alice.kc" "ok alice"
"$PY" - "$WORK/alice.kc" <<'EOF' && it_pass "alice.kc: CN=alice, O=dev,ops, signed by kubernetes-access-g2, 0600" || it_fail "alice.kc content"
import base64, os, sys, yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
k = yaml.safe_load(open(sys.argv[1]))
c = x509.load_pem_x509_certificate(base64.b64decode(k["users"][0]["user"]["client-certificate-data"]))
assert [a.value for a in c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
assert sorted(a.value for a in c.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)) == ["dev", "ops"]
assert "kubernetes-access" in c.issuer.rfc4514_string() or "Kubernetes API access CA g2" in c.issuer.rfc4514_string()
assert os.stat(sys.argv[1]).st_mode & 0o777 == 0o600
EOF
rot_expect 2 issue-masters kube issue-config --user eve --group system:masters --out "$WORK/eve.kc"
[[ ! -e "$WORK/eve.kc" ]] && it_pass "system:masters as --group refused, nothing written" || it_fail "eve.kc written"
rot_expect 0 issue-admin kube issue-config --user ops-admin --admin --out "$WORK/admin.kc"
kprobe_expect "$WORK/admin.kc" "ok ops-admin"
rot_expect 1 issue-other-ctx kube issue-config --user bob --out "$WORK/cluster-ca.kc" --context other
grep -q "also holds context" "$ROT_ERR" && it_pass "issue-config refuses to drop another context" ||
	it_fail "issue-config over another context: $(cat "$ROT_ERR")"

# --- kill -9 in every step of one rotation g2 -> g3, resumed after each
old=$(kcurrent)
cp "$KC" "$WORK/old.kc"
first=1
for p in prepare:after trust-new:1 issue:after verify-new:0 distrust-old:2 prove-revoked:before retire:destroyed; do
	rc=0
	if ((first)); then
		HSMCA_FAULT=$p krot "kill-$p" --dry-run=false || rc=$?
	else
		HSMCA_FAULT=$p rot "kill-resume-$p" rotate-ca --resume --dry-run=false || rc=$?
	fi
	first=0
	if [[ $rc != 137 ]]; then
		it_fail "HSMCA_FAULT=$p: expected SIGKILL (137), got $rc: $(tail -3 "$ROT_ERR")"
		break
	fi
	it_pass "HSMCA_FAULT=$p: killed"
	kcheck_killed "$p" "$old" "$WORK/old.kc"
done
rot_expect 0 resume-end rotate-ca --resume --dry-run=false
kcheck_end "$old" kubernetes-access-g3 "$WORK/old.kc"

kcheck_oracles
rot_leak_scan
it_summary
