#!/usr/bin/env bash
# A test OF the management-cluster test doubles (not of hsmca): the Talos API
# double's per-control-plane kube-apiserver client-CA bundles, the Kubernetes
# double's --apiserver listeners, SelfSubjectReview and anonymous auth, and
# talos_cluster.sh's TALOS_CLUSTER_KUBE=1, kprobe and kaccept.
#  - a SIMULATED cluster of 2 control planes (cp2 with a KubeAPIServerCAConfig
#    document) + 1 worker: bundles for control planes only, issuing CA first;
#    the project kubeconfig works on every apiserver;
#  - a client certificate of a new CA is refused (401) until the CA is in a
#    node's accepted CAs through the Talos API, then accepted on that node
#    only; removed, refused again; on cp2 only the document's acceptedCAs
#    count; a TRY-mode config is rolled back and so is its bundle;
#  - an apiserver reads its file on every request (unparsable: last good set;
#    missing: nothing trusted), goes down and up on its port;
#  - anonymous auth: no certificate gets 200 on /version but 403 on
#    SelfSubjectReview; an untrusted certificate stays 401 (as kube-apiserver),
#    unless the double plays a Go client that drops it;
#  - both security oracles work and report nothing for what the test did.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"

PY=/usr/bin/python3
CL=$HSMCA_TEST_SRCDIR/tests/doubles/talos_cluster.sh
it_setup
cd "$WORK"

# probe NAME EXPECTED KUBECONFIG [MODE]: kprobe of the current cluster ($C),
# its lines joined with ";".
probe() {
	local name=$1 want=$2 got
	got=$("$CL" kprobe "$C" "${@:3}" 2>&1 | paste -sd ';') || true
	it_assert_eq "$want" "$got" "$name"
}

# kctl METHOD PATH [JSON]: the Kubernetes double's control port.
kctl() {
	local args=(-sS --max-time 10 -H "Authorization: Bearer $KUBE_CONTROL_TOKEN" -X "$1")
	[[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data "$3")
	curl "${args[@]}" "$KUBE_CONTROL$2"
}

# jget EXPR: evaluate a Python expression over the JSON on stdin (as j).
jget() {
	"$PY" -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# ncerts FILE: number of certificates in a PEM file.
ncerts() {
	grep -c -- '-----BEGIN CERTIFICATE-----' "$1" 2>/dev/null || true
}

fp() {
	openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

# mkkube SRC OUT [CERT KEY]: SRC's cluster (server, CA) with that client
# certificate, or with no credential at all.
mkkube() {
	"$PY" - "$@" <<'EOF'
import base64, os, sys, yaml
src, out = sys.argv[1:3]
kc = yaml.safe_load(open(src))
u = kc["users"][0]["user"]
u.clear()
if len(sys.argv) > 3:
    u["client-certificate-data"] = base64.b64encode(open(sys.argv[3], "rb").read()).decode()
    u["client-key-data"] = base64.b64encode(open(sys.argv[4], "rb").read()).decode()
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    yaml.safe_dump(kc, f)
EOF
}

# wait_probe NAME EXPECTED SECONDS KUBECONFIG: poll kprobe until it shows EXPECTED.
wait_probe() {
	local name=$1 want=$2 limit=$(($3 * 10)) i got=""
	for ((i = 0; i < limit; i++)); do
		got=$("$CL" kprobe "$C" "$4" 2>&1 | paste -sd ';') || true
		[[ "$got" == "$want" ]] && break
		sleep 0.1
	done
	it_assert_eq "$want" "$got" "$name"
}

# talos_dry_key NODE KEYFILE: a dry-run ApplyConfiguration of NODE's own
# config with cluster.ca.key replaced by KEYFILE (base64 of its PEM), so that
# the Talos double's oracle sees that key on its way to NODE.
talos_dry_key() {
	"$PY" - "$C" "$1" "$2" <<'EOF'
import base64, json, os, sys
import grpc, yaml
d, node, keyfile = sys.argv[1:4]
ready = json.load(open(os.path.join(d, "talos", "ready.json")))
port = next(n["port"] for n in ready["nodes"] if n["name"] == node)
def vi(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)
def ld(num, data):
    return vi(num << 3 | 2) + vi(len(data)) + data
def first(buf, want):
    i = 0
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1; key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if key & 7 == 0:
            while buf[i] & 0x80:
                i += 1
            i += 1
            continue
        ln, shift = 0, 0
        while True:
            b = buf[i]; i += 1; ln |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        if key >> 3 == want:
            return buf[i:i + ln]
        i += ln
    raise SystemExit("field %d missing" % want)
tc = yaml.safe_load(open(os.path.join(d, "project", "talosconfig")))
ctx = tc["contexts"][tc["context"]]
b = lambda k: base64.b64decode(ctx[k])
creds = grpc.ssl_channel_credentials(b("ca"), b("key").replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY"), b("crt"))
ch = grpc.secure_channel("127.0.0.1:%d" % port, creds, options=[("grpc.use_local_subchannel_pool", 1)])
raw = lambda m: ch.unary_unary(m, request_serializer=lambda x: x, response_deserializer=lambda x: x)
resp = raw("/cosi.resource.State/Get")(ld(1, b"config") + ld(2, b"MachineConfigs.config.talos.dev") + ld(3, b"v1alpha1"), timeout=10)
# Resource.spec.proto_spec (MachineConfigSpec).yaml_marshalled
data = first(first(first(first(resp, 1), 2), 1), 1)
docs = [x for x in yaml.safe_load_all(data) if x is not None]
v1 = next(x for x in docs if x.get("version") == "v1alpha1")
v1["cluster"]["ca"]["key"] = base64.b64encode(open(keyfile, "rb").read()).decode()
new = yaml.safe_dump_all(docs, sort_keys=False, width=1 << 20).encode()
raw("/machine.MachineService/ApplyConfiguration")(ld(1, new) + vi(4 << 3) + vi(2) + vi(5 << 3) + vi(1), timeout=10)
ch.close()
EOF
}

talos_violations() {
	curl -sS --max-time 10 "$TALOS_CONTROL/violations" | jget 'len(j)'
}

# --- a new CA (software, test only) and a client certificate from it ---
mkdir -m 0700 pki
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/nca.key \
	-out pki/nca.crt -days 30 -subj "/O=hsmca-test/CN=new access CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout pki/probe.key \
	-out pki/probe.csr -subj "/O=system:masters/CN=hsmca-probe" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n' >pki/ext
openssl x509 -req -in pki/probe.csr -CA pki/nca.crt -CAkey pki/nca.key -CAcreateserial -days 5 \
	-extfile pki/ext -out pki/probe.crt 2>/dev/null
openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out pki/foreign.key 2>/dev/null
[[ -s pki/probe.crt && -s pki/foreign.key ]] && it_pass "made a test CA, a client certificate and a foreign key" ||
	it_fail "openssl could not make the test PKI"

# ================= cluster 1: 2 control planes (cp2 with the document) + 1 worker
C=$WORK/c1
it_defer "$CL" stop "$C"
it_ok env TALOS_CLUSTER_KUBE=1 TALOS_CLUSTER_KUBE_CA_DOC=cp2 TALOS_CLUSTER_DEADLINE=300 \
	"$CL" start "$C" 2 1 >/dev/null
# shellcheck disable=SC1091
. "$C/cluster.env"
it_register_pid "$TALOS_DOUBLE_PID" "$KUBE_DOUBLE_PID"
for v in KUBE_DOUBLE_PID KUBE_CONTROL KUBE_CONTROL_TOKEN KUBE_READY KUBE_KUBECONFIG KUBE_API_URLS; do
	[[ -n "${!v:-}" ]] && it_pass "cluster.env has $v" || it_fail "cluster.env lacks $v"
done
it_assert_eq "cp1,cp2" "$(jget '",".join(a["name"] for a in j["apiservers"])' <"$KUBE_READY")" \
	"ready.json lists the apiservers cp1, cp2 in order"
it_assert_eq "$KUBE_API_URLS" "$(jget '",".join(a["server"] for a in j["apiservers"])' <"$KUBE_READY")" \
	"KUBE_API_URLS are the apiservers' URLs in control-plane order"
it_assert_eq "$C/project/kubeconfig 600" "$KUBE_KUBECONFIG $(stat -c %a "$KUBE_KUBECONFIG")" \
	"the project kubeconfig is at the project root, mode 0600"
it_assert_eq "${KUBE_API_URLS%%,*}" \
	"$("$PY" -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["clusters"][0]["cluster"]["server"])' "$KUBE_KUBECONFIG")" \
	"the project kubeconfig points at cp1's apiserver"

B=$C/kube-ca-bundles
KCA=$C/talos/kube-ca.crt
[[ -f $B/cp1.pem && -f $B/cp2.pem && ! -e $B/w1.pem ]] && it_pass "client-CA bundles for the control planes only" ||
	it_fail "bundles: $(ls "$B")"
it_assert_eq "1 1 $(fp "$KCA") $(fp "$KCA")" "$(ncerts "$B/cp1.pem") $(ncerts "$B/cp2.pem") $(fp "$B/cp1.pem") $(fp "$B/cp2.pem")" \
	"each bundle starts as the cluster's Kubernetes CA alone"
it_assert_eq "600" "$(stat -c %a "$C/talos/kube-ca.key")" "kube-ca.key is 0600"
it_assert_eq "$(fp "$KCA")" "$(fp "$(jget 'j["issuing_ca_cert"]' <"$KUBE_READY")")" \
	"the Kubernetes double issues from the Talos cluster's Kubernetes CA"

mkkube "$KUBE_KUBECONFIG" new.kubeconfig pki/probe.crt pki/probe.key
mkkube "$KUBE_KUBECONFIG" nocert.kubeconfig

probe "the project kubeconfig works on every apiserver (SelfSubjectReview)" \
	"cp1 ok kubernetes-admin;cp2 ok kubernetes-admin" "$KUBE_KUBECONFIG"
probe "GET /version with it too" "cp1 ok v1.33.1;cp2 ok v1.33.1" "$KUBE_KUBECONFIG" version
probe "the new CA's client certificate is refused everywhere" \
	"cp1 refused 401;cp2 refused 401" new.kubeconfig
probe "without anonymous auth, no certificate is 401 even on /version" \
	"cp1 refused 401;cp2 refused 401" nocert.kubeconfig version

# --- accepted CAs through the Talos API ---
it_assert_eq "cp1 cluster add: 1 accepted CAs" "$(it_ok "$CL" kaccept "$C" cp1 add pki/nca.crt)" \
	"kaccept adds the CA to cp1's cluster.acceptedCAs"
probe "accepted on cp1 only" "cp1 ok hsmca-probe;cp2 refused 401" new.kubeconfig
it_assert_eq "2 1 $(fp "$KCA")" "$(ncerts "$B/cp1.pem") $(ncerts "$B/cp2.pem") $(fp "$B/cp1.pem")" \
	"cp1's bundle: issuing CA first, then the accepted CA; cp2's unchanged"
it_assert_eq "$(fp pki/nca.crt)" "$(openssl crl2pkcs7 -nocrl -certfile "$B/cp1.pem" | openssl pkcs7 -print_certs |
	awk '/BEGIN/{n++} n==2' | openssl x509 -outform DER | sha256sum | cut -d' ' -f1)" \
	"the second certificate of cp1's bundle is the new CA"

it_assert_eq "cp2 cluster add: 1 accepted CAs" "$(it_ok "$CL" kaccept "$C" cp2 add pki/nca.crt cluster)" \
	"kaccept can still write cluster.acceptedCAs on cp2"
probe "on a node with KubeAPIServerCAConfig, cluster.acceptedCAs does not count" \
	"cp1 ok hsmca-probe;cp2 refused 401" new.kubeconfig
it_assert_eq "1" "$(ncerts "$B/cp2.pem")" "cp2's bundle ignores cluster.acceptedCAs"
it_assert_eq "cp2 kube add: 1 accepted CAs" "$(it_ok "$CL" kaccept "$C" cp2 add pki/nca.crt)" \
	"kaccept picks the KubeAPIServerCAConfig document on cp2"
probe "the document's acceptedCAs count" "cp1 ok hsmca-probe;cp2 ok hsmca-probe" new.kubeconfig
it_assert_eq "[]" "$("$CL" state "$C" | jget '[n["kube_accepted"] for n in j["nodes"] if n["name"] == "cp1"][0] or []')" \
	"cp1 has no KubeAPIServerCAConfig document"
it_assert_eq "1 1 2" "$("$CL" state "$C" | jget '" ".join(str(len(n[k])) for n in j["nodes"] if n["name"] == "cp2" for k in ("cluster_accepted", "kube_accepted", "kube_client_cas"))')" \
	"/state: cp2 has the CA in both lists and 2 kube client CAs"

it_ok "$CL" kaccept "$C" cp1 remove pki/nca.crt >/dev/null
probe "removed from cp1: refused there again" "cp1 refused 401;cp2 ok hsmca-probe" new.kubeconfig
it_ok "$CL" kaccept "$C" cp2 remove pki/nca.crt >/dev/null
probe "removed from cp2's document: refused everywhere" "cp1 refused 401;cp2 refused 401" new.kubeconfig
it_assert_eq "1 1" "$(ncerts "$B/cp1.pem") $(ncerts "$B/cp2.pem")" "both bundles are back to the issuing CA"
probe "the admin credential never stopped working" \
	"cp1 ok kubernetes-admin;cp2 ok kubernetes-admin" "$KUBE_KUBECONFIG"

# --- a TRY-mode config is rolled back, and the bundle with it ---
# The window is long enough that the probe right after the apply lands in it
# on a loaded machine (2 s was not: the probe's own start-up took longer).
it_ok "$CL" kaccept "$C" cp1 add pki/nca.crt auto try=12 >/dev/null
probe "TRY mode: accepted while it lasts" "cp1 ok hsmca-probe;cp2 refused 401" new.kubeconfig
wait_probe "TRY mode: rolled back after its timeout, refused again" "cp1 refused 401;cp2 refused 401" 40 new.kubeconfig

# --- the apiserver re-reads its file on every request ---
printf 'not a certificate\n' >"$B/cp1.pem"
probe "an unparsable bundle keeps the last good set" \
	"cp1 ok kubernetes-admin;cp2 ok kubernetes-admin" "$KUBE_KUBECONFIG"
rm -f "$B/cp1.pem"
probe "a missing bundle trusts nothing" "cp1 refused 401;cp2 ok kubernetes-admin" "$KUBE_KUBECONFIG"
it_ok "$CL" kaccept "$C" cp1 add pki/nca.crt >/dev/null
probe "the next config change rewrites it" "cp1 ok kubernetes-admin;cp2 ok kubernetes-admin" "$KUBE_KUBECONFIG"
probe "... with the new CA in it" "cp1 ok hsmca-probe;cp2 refused 401" new.kubeconfig

# --- an apiserver down and up again ---
it_assert_eq "False" "$(kctl POST '/apiserver?name=cp2&down=1' | jget 'j["up"]')" "cp2's apiserver goes down"
got=$("$CL" kprobe "$C" "$KUBE_KUBECONFIG" | paste -sd ';')
[[ "$got" == "cp1 ok kubernetes-admin;cp2 error ConnectionRefusedError"* ]] &&
	it_pass "a down apiserver refuses connections; the other serves" || it_fail "down: $got"
it_assert_eq "True ${KUBE_API_URLS#*,}" "$(kctl POST /apiserver '{"name": "cp2", "down": 0}' | jget 'j["up"], j["server"]' | tr -d "(),'")" \
	"cp2's apiserver comes back on the same port"
probe "and serves again" "cp1 ok kubernetes-admin;cp2 ok kubernetes-admin" "$KUBE_KUBECONFIG"
it_assert_eq "404" "$(curl -sS --max-time 10 -H "Authorization: Bearer $KUBE_CONTROL_TOKEN" -X POST \
	-o /dev/null -w '%{http_code}' "$KUBE_CONTROL/apiserver?name=cp9&down=1")" "an unknown apiserver name is 404"

# --- the security oracles ---
it_assert_eq "0" "$(talos_violations)" "Talos double: no violation so far"
it_assert_eq "0" "$(kctl GET /violations | jget 'len(j["violations"])')" "Kubernetes double: no violation so far"
it_ok talos_dry_key w1 "$C/talos/kube-ca.key"
it_assert_eq "0" "$(talos_violations)" "the Kubernetes CA key from --kube-ca-out is allowed, even sent to a worker"
it_ok talos_dry_key w1 pki/foreign.key
it_assert_eq "1 w1" "$(curl -sS --max-time 10 "$TALOS_CONTROL/violations" | jget '"%d %s" % (len(j), j[0]["node"])')" \
	"a foreign key sent to w1 is a Talos violation (the oracle works)"
token=$(jget 'j["token"]' <"$KUBE_READY")
body=$("$PY" -c 'import base64,json,sys; print(json.dumps({"metadata": {"name": "leak"}, "data": {"k": base64.b64encode(open(sys.argv[1],"rb").read()).decode()}}))' pki/foreign.key)
it_assert_eq "201" "$(curl -sS --max-time 10 --cacert "$KCA" -H "Authorization: Bearer $token" \
	-H 'Content-Type: application/json' --data "$body" -o /dev/null -w '%{http_code}' \
	"${KUBE_API_URLS%%,*}/api/v1/namespaces/default/secrets")" "a Secret with a foreign key, through cp1's apiserver"
it_assert_eq "1 apiserver/cp1" "$(kctl GET /violations | jget '"%d %s" % (len(j["violations"]), j["violations"][0]["server"])')" \
	"the Kubernetes oracle sees it on the apiserver listener"
it_assert_eq "apiserver cp1" "$(kctl GET /requests | jget '" ".join(["apiserver", [r for r in j["requests"] if r["method"] == "POST" and r["path"].endswith("/secrets")][-1]["apiserver"]])')" \
	"the request log names the apiserver"

it_ok "$CL" stop "$C" >/dev/null
sleep 0.2
if kill -0 "$TALOS_DOUBLE_PID" 2>/dev/null || kill -0 "$KUBE_DOUBLE_PID" 2>/dev/null; then
	it_fail "stop left a double running"
else
	it_pass "stop ends both doubles"
fi

# ================= cluster 2: anonymous auth on (1 control plane)
C=$WORK/c2
it_defer "$CL" stop "$C"
it_ok env TALOS_CLUSTER_KUBE=1 TALOS_CLUSTER_KUBE_ANON=1 TALOS_CLUSTER_DEADLINE=300 \
	"$CL" start "$C" 1 0 >/dev/null
# shellcheck disable=SC1091
. "$C/cluster.env"
it_register_pid "$TALOS_DOUBLE_PID" "$KUBE_DOUBLE_PID"
KCA=$C/talos/kube-ca.crt
U1=${KUBE_API_URLS%%,*}
mkkube "$KUBE_KUBECONFIG" new2.kubeconfig pki/probe.crt pki/probe.key
mkkube "$KUBE_KUBECONFIG" nocert2.kubeconfig
it_assert_eq "True False" "$(kctl GET /auth | jget 'j["anonymous"], j["drop_untrusted_client_certs"]' | tr -d '(),')" \
	"TALOS_CLUSTER_KUBE_ANON=1 turns anonymous auth on"
probe "anonymous: /version answers 200 without any certificate" "cp1 ok v1.33.1" nocert2.kubeconfig version
probe "anonymous: SelfSubjectReview is 403" "cp1 refused 403" nocert2.kubeconfig
msg=$(curl -sS --max-time 10 --cacert "$KCA" -H 'Content-Type: application/json' \
	--data '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' \
	"$U1/apis/authentication.k8s.io/v1/selfsubjectreviews" | jget 'j["message"]')
it_assert_eq 'selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope' \
	"$msg" "anonymous: kube's RBAC message"
it_assert_eq "403" "$(curl -sS --max-time 10 --cacert "$KCA" -o /dev/null -w '%{http_code}' "$U1/api/v1/namespaces/default/secrets")" \
	"anonymous: listing Secrets is 403"
probe "an untrusted certificate stays 401 on /version (kube-apiserver does not make it anonymous)" \
	"cp1 refused 401" new2.kubeconfig version
probe "... and on SelfSubjectReview" "cp1 refused 401" new2.kubeconfig
probe "the admin certificate: SelfSubjectReview names it" "cp1 ok kubernetes-admin" "$KUBE_KUBECONFIG"
kctl POST /auth '{"drop_untrusted_client_certs": true}' >/dev/null
probe "playing a Go client that drops an untrusted certificate: /version 200 (the trap)" \
	"cp1 ok v1.33.1" new2.kubeconfig version
probe "... while SelfSubjectReview shows it was not authenticated (403)" "cp1 refused 403" new2.kubeconfig
it_ok "$CL" kaccept "$C" cp1 add pki/nca.crt >/dev/null
probe "once its CA is accepted, SelfSubjectReview names the probe user" "cp1 ok hsmca-probe" new2.kubeconfig
it_assert_eq "0 0" "$(talos_violations) $(kctl GET /violations | jget 'len(j["violations"])')" \
	"no violation on either double"

it_summary
