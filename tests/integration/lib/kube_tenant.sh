# shellcheck shell=bash
# Helpers for the Kamaji tenant rotation tests (tests/integration/tenant_*.sh).
# Source after common.sh and it_setup.
#
#   kt_start_double [extra kube_double.py args]   start the double in $WORK/kube
#   hs ARGS...          run "$HSMCA" ARGS, keeping its stdout/stderr in $WORK/outputs
#   kt_ctl METHOD PATH [JSON]   the double's control port (prints the JSON answer)
#   kt_api PATH         GET on the management API server with the admin token
#   kt_snapshot         "kind ns/name uid resourceVersion" of the tenant's objects
#   kt_count_requests METHOD PATH_REGEX [CODE]  matching entries of the request log
#   kt_collect_keys     remember every key in the tenant's Secrets as a needle
#   kt_scan_no_keys FILE...  fail if any file holds a PEM private key or a needle
#
#   kt_tcp_patch JSON   merge-patch the TenantControlPlane
#   kt_secret_annotate SUFFIX VALUE   set certs.kamaji.clastix.io/rotate on a Secret
#   kt_secret_field SUFFIX PYEXPR     a value computed from one Secret
#   kt_probe_mixed OLD NEW  GET /version with OLD's client certificate, NEW's CA
#   kt_vm_pods          the worker VMs' launcher pods, from the double
#
# The tenant is laid out as Cozystack makes it: TenantControlPlane
# kubernetes-foo (the Helm release of the kubernetes app "foo") in tenant-foo,
# Kamaji in cozy-kamaji, $KT_VMS worker VMs (default 3).  Secret data never
# leaves the Python helpers except as needles in $WORK/.kt (mode 0700).

KT_NAME=kubernetes-foo
KT_NS=tenant-foo
KT_KNS=cozy-kamaji
KT_DIR=
KT_KUBECONFIG=
KT_PY=/usr/bin/python3

kt_start_double() {
	KT_DIR=$WORK/kube
	mkdir -p "$KT_DIR" "$WORK/outputs" "$WORK/.kt"
	chmod 0700 "$WORK/.kt"
	: >"$WORK/.kt/needles"
	"$KT_PY" "$HSMCA_TEST_SRCDIR/tests/doubles/kube_double.py" --dir "$KT_DIR" --deadline 600 \
		--kamaji-tenant "$KT_NAME" --tenant-namespace "$KT_NS" --kamaji-namespace "$KT_KNS" \
		--rotate-delay 0.3 --pod-ready-delay 0.3 --pod-grace 0.2 --vm-restart-delay 0.2 \
		--bookmark-interval 0.3 --worker-vms "${KT_VMS:-3}" "$@" >"$WORK/double.log" 2>&1 &
	KT_PID=$!
	it_register_pid "$KT_PID"
	if ! it_wait_file "$KT_DIR/ready.json" 30; then
		cat "$WORK/double.log" >&2
		it_fail "the Kubernetes API double did not start"
		return 1
	fi
	KT_KUBECONFIG=$KT_DIR/admin.kubeconfig
	KT_READY=$(cat "$KT_DIR/ready.json")
	KT_PORT=$(kt_ready port)
	KT_CTL_PORT=$(kt_ready control_port)
	KT_CTL_TOKEN=$(kt_ready control_token)
	KT_TOKEN=$(kt_ready token)
	KT_TENANT_PORT=$(kt_ready tenant_port)
	it_pass "Kubernetes API double with Kamaji tenant $KT_NS/$KT_NAME is up (pid $KT_PID)"
}

# kt_stop_double: SIGTERM by PID, wait.
kt_stop_double() {
	[[ -n "${KT_PID:-}" ]] && it_kill_pid "$KT_PID" 5
	KT_PID=
}

kt_ready() {
	"$KT_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$KT_DIR/ready.json" "$1"
}

hs() {
	local rc=0
	"$HSMCA" "$@" >"$WORK/.kt/o" 2>"$WORK/.kt/e" || rc=$?
	cat "$WORK/.kt/o" >>"$WORK/outputs/stdout"
	cat "$WORK/.kt/e" >>"$WORK/outputs/stderr"
	cat "$WORK/.kt/o"
	cat "$WORK/.kt/e" >&2
	return "$rc"
}

kt_ctl() {
	local args=(-sS --max-time 10 -H "Authorization: Bearer $KT_CTL_TOKEN" -X "$1")
	[[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data "$3")
	curl "${args[@]}" "http://127.0.0.1:$KT_CTL_PORT$2"
}

kt_api() {
	curl -sS --max-time 10 --cacert "$KT_DIR/ca.crt" -H "Authorization: Bearer $KT_TOKEN" \
		"https://127.0.0.1:$KT_PORT$1"
}

# Objects of the tenant: secrets and pods of both namespaces, the TCP.  No data.
kt_snapshot() {
	{
		kt_api "/api/v1/namespaces/$KT_NS/secrets" | kt_items secret
		kt_api "/api/v1/namespaces/$KT_NS/pods" | kt_items pod
		kt_api "/api/v1/namespaces/$KT_KNS/pods" | kt_items pod
		kt_api "/apis/kamaji.clastix.io/v1alpha1/namespaces/$KT_NS/tenantcontrolplanes" |
			kt_items tcp
	} | LC_ALL=C sort
}

kt_items() {
	"$KT_PY" -c '
import json, sys
for o in json.load(sys.stdin)["items"]:
    m = o["metadata"]
    print(sys.argv[1], "%s/%s" % (m["namespace"], m["name"]), m["uid"], m["resourceVersion"])
' "$1"
}

# The uid of a secret in the tenant namespace ("" if missing).
kt_secret_uid() {
	kt_snapshot | awk -v k="secret $KT_NS/$1" '$1" "$2 == k { print $3 }'
}

# kt_tenant FIELD: from GET /tenant (ca_sha256, rotations, status).
kt_tenant() {
	kt_ctl GET /tenant | "$KT_PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# kt_count_requests METHOD PATH_REGEX [CODE]
kt_count_requests() {
	kt_ctl GET /requests | "$KT_PY" -c '
import json, re, sys
method, rx = sys.argv[1], re.compile(sys.argv[2])
code = int(sys.argv[3]) if len(sys.argv) > 3 else None
n = sum(1 for r in json.load(sys.stdin)["requests"]
        if r.get("method") == method and rx.search(r.get("path", ""))
        and (code is None or r.get("code") == code))
print(n)
' "$@"
}

# Methods the request log holds, sorted and unique ("GET" for a read-only run).
kt_request_methods() {
	kt_ctl GET /requests | "$KT_PY" -c '
import json, sys
print(" ".join(sorted({r.get("method") for r in json.load(sys.stdin)["requests"]})))'
}

# Save the old admin kubeconfig of the tenant (for the independent check that
# it is refused afterwards) into $1, 0600.  Test-only: it holds a key.
kt_save_admin_kubeconfig() {
	(umask 077 && kt_api "/api/v1/namespaces/$KT_NS/secrets/$KT_NAME-admin-kubeconfig" |
		"$KT_PY" -c '
import base64, json, sys
print(base64.b64decode(json.load(sys.stdin)["data"]["super-admin.conf"]).decode(), end="")' >"$1")
}

# kt_probe_kubeconfig FILE: GET /version with the kubeconfig, independently of
# hsmca (Python ssl).  Prints "ok VERSION", "http CODE" or "tls ERROR".
kt_probe_kubeconfig() {
	"$KT_PY" - "$1" "$WORK/.kt" <<'EOF'
import base64, http.client, json, os, ssl, sys, tempfile, urllib.parse, yaml
kc = yaml.safe_load(open(sys.argv[1]))
cl = kc["clusters"][0]["cluster"]; us = kc["users"][0]["user"]
ctx = ssl.create_default_context(cadata=base64.b64decode(cl["certificate-authority-data"]).decode())
with tempfile.TemporaryDirectory(dir=sys.argv[2]) as d:
    c, k = os.path.join(d, "c"), os.path.join(d, "k")
    open(c, "wb").write(base64.b64decode(us["client-certificate-data"]))
    fd = os.open(k, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, base64.b64decode(us["client-key-data"])); os.close(fd)
    ctx.load_cert_chain(c, k)
u = urllib.parse.urlsplit(cl["server"])
try:
    h = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
    h.request("GET", "/version"); r = h.getresponse(); body = r.read()
    print("ok " + json.loads(body)["gitVersion"] if r.status == 200 else "http %d" % r.status)
except ssl.SSLError as e:
    print("tls " + str(e).replace(" ", "_")[:80])
EOF
}

# Remember every private key the tenant's Secrets hold now (and the double's
# issuing CA key) as needles: a 40-character piece of each PEM key body and
# of each Secret data value (the base64 form on the wire).
kt_collect_keys() {
	kt_api "/api/v1/namespaces/$KT_NS/secrets" | "$KT_PY" -c '
import base64, json, re, sys
out = open(sys.argv[1], "a")
def key_pieces(text):
    for m in re.finditer(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(.*?)-----END", text, re.S):
        body = "".join(m.group(1).split())
        if len(body) > 80:
            out.write(body[20:60] + "\n")
for s in json.load(sys.stdin)["items"]:
    for k, v in (s.get("data") or {}).items():
        raw = base64.b64decode(v).decode("utf-8", "replace")
        hit = "PRIVATE KEY" in raw
        for m in re.finditer(r"client-key-data:\s*(\S+)", raw):
            inner = base64.b64decode(m.group(1)).decode("utf-8", "replace")
            key_pieces(inner); hit = True
            out.write(m.group(1)[20:60] + "\n")
        key_pieces(raw)
        if hit and len(v) > 100:
            out.write(v[40:80] + "\n")
key_pieces(open(sys.argv[2]).read())
' "$WORK/.kt/needles" "$KT_DIR/issuing-ca.key"
}

# kt_scan_raw FILE...: exit 0 if no file holds a PEM private key marker or a
# needle, 1 (naming the file) otherwise.
kt_scan_raw() {
	"$KT_PY" - "$WORK/.kt/needles" "$@" <<'EOF'
import sys
needles = sorted({l.strip() for l in open(sys.argv[1]) if l.strip()})
bad = 0
for path in sys.argv[2:]:
    data = open(path, "rb").read().decode("utf-8", "replace")
    if "PRIVATE KEY" in data:
        print("PRIVATE KEY marker in %s" % path); bad += 1
    for nd in needles:
        if nd in data:
            print("key material (needle %d) in %s" % (needles.index(nd), path)); bad += 1
            break
sys.exit(1 if bad else 0)
EOF
}

# kt_scan_no_keys FILE...: no PEM private key marker and no needle in any.
kt_scan_no_keys() {
	local n rc=0
	n=$(sort -u "$WORK/.kt/needles" | grep -c . || true)
	if ((n < 20)); then
		it_fail "only $n key needles collected; the scan would prove nothing"
		return 1
	fi
	kt_scan_raw "$@" || rc=$?
	if ((rc == 0)); then
		it_pass "no private key bytes in $# files ($n needles from the tenant's keys)"
	else
		it_fail "private key material found (see above)"
	fi
}

kt_tcp_patch() {
	curl -sS --max-time 10 --cacert "$KT_DIR/ca.crt" -H "Authorization: Bearer $KT_TOKEN" \
		-X PATCH -H 'Content-Type: application/merge-patch+json' --data "$1" \
		"https://127.0.0.1:$KT_PORT/apis/kamaji.clastix.io/v1alpha1/namespaces/$KT_NS/tenantcontrolplanes/$KT_NAME" >/dev/null
}

kt_secret_annotate() {
	curl -sS --max-time 10 --cacert "$KT_DIR/ca.crt" -H "Authorization: Bearer $KT_TOKEN" \
		-X PATCH -H 'Content-Type: application/merge-patch+json' \
		--data "{\"metadata\":{\"annotations\":{\"certs.kamaji.clastix.io/rotate\":\"$2\"}}}" \
		"https://127.0.0.1:$KT_PORT/api/v1/namespaces/$KT_NS/secrets/$KT_NAME-$1" >/dev/null
}

# kt_secret_field SUFFIX EXPR: prints EXPR evaluated over `s` (the Secret),
# `fp(key)` (SHA-256 of the first certificate of data[key]), `ann` (the rotate
# annotation or None) and `signed_by(key, ca_suffix, ca_key)` (whether that
# certificate -- a kubeconfig's client certificate -- is issued by the CA in
# Secret <name>-<ca_suffix>, data[ca_key]).  Certificates only, no keys.
kt_secret_field() {
	kt_api "/api/v1/namespaces/$KT_NS/secrets/$KT_NAME-$1" >"$WORK/.kt/sec.json"
	"$KT_PY" - "$2" "$WORK/.kt/sec.json" "$KT_DIR/ca.crt" "$KT_TOKEN" \
		"https://127.0.0.1:$KT_PORT/api/v1/namespaces/$KT_NS/secrets/$KT_NAME-" <<'EOF'
import base64, hashlib, json, os, re, subprocess, sys, tempfile
s = json.load(open(sys.argv[2]))
def pem(key, sec=None):
    d = base64.b64decode((sec or s)["data"][key]).decode()
    m = re.search(r"client-certificate-data:\s*(\S+)", d)
    if m:  # a kubeconfig: its client certificate
        d = base64.b64decode(m.group(1)).decode()
    return re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", d, re.S).group(0)
def fp(key):
    body = "".join(pem(key).splitlines()[1:-1])
    return hashlib.sha256(base64.b64decode(body)).hexdigest()
ann = (s["metadata"].get("annotations") or {}).get("certs.kamaji.clastix.io/rotate")
def signed_by(key, ca_suffix, ca_key):
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", sys.argv[3], "-H",
                          "Authorization: Bearer " + sys.argv[4], sys.argv[5] + ca_suffix],
                         capture_output=True, check=True).stdout
    with tempfile.TemporaryDirectory() as d:
        ca, c = os.path.join(d, "ca"), os.path.join(d, "c")
        open(ca, "w").write(pem(ca_key, json.loads(out)))
        open(c, "w").write(pem(key))
        r = subprocess.run(["openssl", "verify", "-partial_chain", "-CAfile", ca, c],
                           capture_output=True)
    return r.returncode == 0
print(eval(sys.argv[1]))
EOF
	rm -f "$WORK/.kt/sec.json"
}

# kt_probe_mixed OLD_KUBECONFIG NEW_KUBECONFIG: the old client certificate and
# key with the new server CA -- what the tenant API server thinks of the old
# credential itself.  Independent of hsmca.  Prints like kt_probe_kubeconfig.
kt_probe_mixed() {
	"$KT_PY" - "$1" "$2" "$WORK/.kt/mixed.kubeconfig" <<'EOF'
import os, sys, yaml
old, new = yaml.safe_load(open(sys.argv[1])), yaml.safe_load(open(sys.argv[2]))
old["clusters"][0]["cluster"]["certificate-authority-data"] = new["clusters"][0]["cluster"]["certificate-authority-data"]
fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, yaml.safe_dump(old).encode()); os.close(fd)
EOF
	kt_probe_kubeconfig "$WORK/.kt/mixed.kubeconfig"
	rm -f "$WORK/.kt/mixed.kubeconfig"
}

# kt_vm_pods: "vm pod uid ready terminating" of the worker VMs' launcher pods.
kt_vm_pods() {
	kt_ctl GET /tenant | "$KT_PY" -c '
import json, sys
for p in json.load(sys.stdin)["vm_pods"]:
    print(p["vm"], p["pod"], p["uid"], p["ready"], p["terminating"])' | LC_ALL=C sort
}
