#!/usr/bin/env bash
# A SIMULATED Talos cluster for tests and the demo: the Talos API double
# (tests/doubles/talos_double.py, NOT Talos) with N nodes on 127.0.0.1, and a
# talm project laid out for it.
#
#   tests/doubles/talos_cluster.sh start DIR [CP_COUNT [WORKER_COUNT]]   (default 3 3)
#   tests/doubles/talos_cluster.sh stop DIR
#   tests/doubles/talos_cluster.sh state DIR       (the double's /state, JSON)
#   tests/doubles/talos_cluster.sh probe DIR TALOSCONFIG [CONTEXT]
#       Version on every node with that talosconfig's credential, each over a
#       new TLS connection (Python grpc, independent of hsmca's client); one
#       line per node: "<name> ok" or "<name> refused|error <grpc code>: <details>"
#   tests/doubles/talos_cluster.sh kprobe DIR KUBECONFIG [ssr|version]
#       (TALOS_CLUSTER_KUBE=1 clusters) on every apiserver, in ready.json
#       order, over a NEW TLS connection that verifies the server with the
#       kubeconfig's certificate-authority-data and presents its client
#       certificate (or its token; nothing if it has neither): POST a
#       SelfSubjectReview (default) or GET /version.  Python ssl, independent
#       of hsmca.  One line per apiserver: "<name> ok <username>" (ssr: 201,
#       and the user it was authenticated as; version: 200 and the
#       gitVersion), "<name> refused <401|403>", or "<name> error <text>"
#       (connection refused, TLS failure, any other HTTP status).  Never
#       prints key bytes.
#   tests/doubles/talos_cluster.sh kaccept DIR NODE add|remove PEMFILE [auto|cluster|kube] [try=SECONDS]
#       add the CA certificate in PEMFILE to NODE's Kubernetes accepted CAs,
#       or remove it, through the Talos API, straight to the node, with the
#       project's admin talosconfig: COSI Get of the config, edit,
#       ApplyConfiguration NO_REBOOT (or TRY, rolled back after SECONDS).
#       auto (default): the KubeAPIServerCAConfig document's acceptedCAs
#       (plain PEM) where the config has one, else cluster.acceptedCAs
#       ([{crt: base64 PEM}]); cluster / kube force one.  The config (it holds
#       the node's keys) stays in memory.  Prints
#       "<node> <cluster|kube> <add|remove>: <n> accepted CAs".
#
# start writes:
#   DIR/talos/                  the double's state (ready.json, its log, machine CA)
#   DIR/project/                a talm project: Chart.yaml, values.yaml,
#                               templates/{controlplane,worker}.yaml (placeholders),
#                               talosconfig (0600, from the double: admin credential
#                               signed by the nodes' machine CA), nodes/<name>.yaml
#                               with modelines nodes=["127.0.0.1:<port>"] and a
#                               body giving machine.type
#   DIR/cluster.env             shell variables: TALOS_DOUBLE_PID, TALOS_CONTROL,
#                               TALOS_PROJECT, TALOS_TALOSCONFIG, TALOS_NODE_FILE (cp1's)
# and prints the same variables on stdout.  Every node is 127.0.0.1 on its own
# port, so node files name "127.0.0.1:<port>" where a real project names the
# node's IP.  The doubles stop by themselves after TALOS_CLUSTER_DEADLINE
# seconds (default 3600).  Needs Debian's python3-grpcio, python3-cryptography
# and python3-yaml for /usr/bin/python3.
#
# Environment switches of start (all off by default):
#   TALOS_CLUSTER_PROXIED=1     every node gets its own loopback address
#       (127.0.0.11, .12, ... in cp1..cpN, w1..wM order) and only cp1 listens:
#       the other nodes are reachable only through cp1 (the endpoint) with
#       `node` metadata; their node files name the bare address.
#   TALOS_CLUSTER_VERSIONS=w3=v1.6.7,...  Version tag of those nodes (default
#       v1.14.0); below v1.7.0 a node refuses configs with acceptedCAs.
#   TALOS_CLUSTER_KUBE_CA_DOC=cp2,...|all  nodes whose config carries a
#                               KubeAPIServerCAConfig document (--kube-ca-doc)
#   TALOS_CLUSTER_KUBE=1        add a Kubernetes API double (NOT Kubernetes)
#       playing each control plane's kube-apiserver.  The Talos double runs
#       with --kube-client-ca-dir DIR/kube-ca-bundles (cpN.pem = cpN's
#       client-CA bundle, rewritten whenever cpN's config changes) and
#       --kube-ca-out DIR/talos (kube-ca.crt, kube-ca.key: the cluster's
#       Kubernetes CA); tests/doubles/kube_double.py runs in DIR/kube with
#       that CA as issuing CA and one --apiserver cpN=DIR/kube-ca-bundles/cpN.pem
#       per control plane.  start then also writes DIR/project/kubeconfig
#       (0600; the double's admin client certificate CN=kubernetes-admin
#       O=system:masters from the Kubernetes CA; server = cp1's apiserver) and
#       adds to cluster.env and stdout: KUBE_DOUBLE_PID, KUBE_CONTROL
#       (http://127.0.0.1:P, the double's control port), KUBE_CONTROL_TOKEN
#       (its bearer token), KUBE_READY (its ready.json), KUBE_KUBECONFIG
#       (DIR/project/kubeconfig), KUBE_API_URLS (comma-separated apiserver
#       URLs, cp1,cp2,... order).
#   TALOS_CLUSTER_KUBE_ANON=1   the Kubernetes double gets --anonymous-auth;
#       =drop-untrusted adds --drop-untrusted-client-certs (see its header).
set -euo pipefail

PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	printf 'talos_cluster: %s\n' "$*" >&2
	exit 1
}

start() {
	local dir=$1 ncp=${2:-3} nwk=${3:-3} spec="" i pid kube=${TALOS_CLUSTER_KUBE:-0} extra=()
	[[ "$ncp" =~ ^[1-9][0-9]*$ && "$nwk" =~ ^[0-9]+$ ]] || die "bad node counts: $ncp $nwk"
	[[ "$kube" == 0 || "$kube" == 1 ]] || die "TALOS_CLUSTER_KUBE is 0 or 1"
	case "${TALOS_CLUSTER_KUBE_ANON:-0}" in
	0 | 1 | drop-untrusted) ;;
	*) die "TALOS_CLUSTER_KUBE_ANON is 0, 1 or drop-untrusted" ;;
	esac
	mkdir -p "$dir/talos"
	dir=$(cd "$dir" && pwd)
	[[ ! -e "$dir/project" ]] || die "$dir/project exists; stop and remove it first"
	for ((i = 1; i <= ncp; i++)); do spec+="${spec:+,}cp$i:controlplane"; done
	for ((i = 1; i <= nwk; i++)); do spec+="${spec:+,}w$i:worker"; done
	"$PY" - "$spec" "$dir/talos/spec.json" "${TALOS_CLUSTER_PROXIED:-0}" "${TALOS_CLUSTER_VERSIONS:-}" <<'EOF'
import json, sys
spec, out, proxied, versions = sys.argv[1:5]
ver = dict(v.split("=", 1) for v in versions.split(",") if v)
nodes = []
for i, item in enumerate(spec.split(",")):
    name, role = item.split(":")
    n = {"name": name, "role": role}
    if proxied == "1":
        # Each node its own loopback address; only cp1 listens (the endpoint).
        n["ip"] = "127.0.0.%d" % (11 + i)
        n["direct"] = i == 0
    if name in ver:
        n["version"] = ver[name]
    nodes.append(n)
json.dump({"nodes": nodes}, open(out, "w"))
EOF
	[[ -z "${TALOS_CLUSTER_KUBE_CA_DOC:-}" ]] || extra+=(--kube-ca-doc "$TALOS_CLUSTER_KUBE_CA_DOC")
	[[ "$kube" == 0 ]] || extra+=(--kube-client-ca-dir "$dir/kube-ca-bundles" --kube-ca-out "$dir/talos")
	rm -f "$dir/talos/ready.json"
	"$PY" "$HERE/talos_double.py" --state-dir "$dir/talos" --spec "$dir/talos/spec.json" \
		--deadline "${TALOS_CLUSTER_DEADLINE:-3600}" --ready-file "$dir/talos/ready.json" \
		--pid-file "$dir/talos/talos_double.pid" "${extra[@]}" >"$dir/talos/double.log" 2>&1 </dev/null &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		[[ -s "$dir/talos/ready.json" ]] && break
		kill -0 "$pid" 2>/dev/null || die "the Talos double exited; see $dir/talos/double.log"
		sleep 0.1
	done
	[[ -s "$dir/talos/ready.json" ]] || {
		kill "$pid" 2>/dev/null || true
		die "the Talos double did not become ready in 30 s; see $dir/talos/double.log"
	}
	"$PY" - "$dir" <<'EOF'
import json, os, shutil, sys
d = sys.argv[1]
ready = json.load(open(os.path.join(d, "talos", "ready.json")))
p = os.path.join(d, "project")
os.makedirs(os.path.join(p, "nodes"))
os.makedirs(os.path.join(p, "templates"))
def write(rel, text, mode=0o644):
    path = os.path.join(p, rel)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
write("Chart.yaml", "apiVersion: v2\nname: simulated-talos-cluster\nversion: 0.1.0\n"
      "description: SIMULATED cluster served by hsmca's Talos API double (not Talos)\n")
write("values.yaml", "# SIMULATED cluster (hsmca Talos API double)\nendpoint: \"https://127.0.0.1:6443\"\n")
for role in ("controlplane", "worker"):
    write("templates/%s.yaml" % role,
          "# placeholder template of the SIMULATED cluster; talm would render the machine config here\n"
          "machine:\n  type: %s\n" % role)
shutil.copyfile(ready["talosconfig"], os.path.join(p, "talosconfig"))
os.chmod(os.path.join(p, "talosconfig"), 0o600)
first = None
for n in ready["nodes"]:
    # A node without a listener is named by its address alone (as in a real
    # project) and reached through cp1, the endpoint.
    addr = "%s:%d" % (n["ip"], n["port"]) if n.get("direct", True) else n["ip"]
    cps = [x for x in ready["nodes"] if x["role"] == "controlplane"]
    ep = "%s:%d" % (cps[0]["ip"], cps[0]["port"])
    eps = addr if n["role"] == "controlplane" and n.get("direct", True) else None
    write("nodes/%s.yaml" % n["name"],
          '# talm: nodes=["%s"], endpoints=["%s"], templates=["templates/%s.yaml"]\n'
          "# SIMULATED node %s (hsmca Talos API double)\n"
          "machine:\n  type: %s\n" % (addr, eps or ep, n["role"], n["name"], n["role"]))
    if first is None:
        first = os.path.join(p, "nodes", "%s.yaml" % n["name"])
env = ("TALOS_DOUBLE_PID=%d\nTALOS_CONTROL=%s\nTALOS_PROJECT=%s\nTALOS_TALOSCONFIG=%s\n"
       "TALOS_NODE_FILE=%s\n" % (ready["pid"], ready["control"], p, os.path.join(p, "talosconfig"), first))
open(os.path.join(d, "cluster.env"), "w").write(env)
sys.stdout.write(env)
EOF
	[[ "$kube" == 0 ]] || start_kube "$dir" "$ncp"
	printf 'talos_cluster: SIMULATED Talos cluster (test double, not Talos): %d control plane + %d worker nodes on 127.0.0.1, talm project %s/project\n' \
		"$ncp" "$nwk" "$dir" >&2
}

# start_kube DIR CP_COUNT: the Kubernetes API double, one apiserver per
# control plane, each trusting what the Talos double writes for its node.
start_kube() {
	local dir=$1 ncp=$2 i pid args=()
	mkdir -p "$dir/kube"
	rm -f "$dir/kube/ready.json"
	args=(--dir "$dir/kube" --deadline "${TALOS_CLUSTER_DEADLINE:-3600}"
		--issuing-ca-cert "$dir/talos/kube-ca.crt" --issuing-ca-key "$dir/talos/kube-ca.key")
	for ((i = 1; i <= ncp; i++)); do args+=(--apiserver "cp$i=$dir/kube-ca-bundles/cp$i.pem"); done
	case "${TALOS_CLUSTER_KUBE_ANON:-0}" in
	1) args+=(--anonymous-auth) ;;
	drop-untrusted) args+=(--anonymous-auth --drop-untrusted-client-certs) ;;
	esac
	"$PY" "$HERE/kube_double.py" "${args[@]}" >"$dir/kube/double.log" 2>&1 </dev/null &
	pid=$!
	printf '%d\n' "$pid" >"$dir/kube/kube_double.pid"
	for ((i = 0; i < 300; i++)); do
		[[ -s "$dir/kube/ready.json" ]] && break
		kill -0 "$pid" 2>/dev/null || die "the Kubernetes double exited; see $dir/kube/double.log"
		sleep 0.1
	done
	[[ -s "$dir/kube/ready.json" ]] || die "the Kubernetes double did not become ready in 30 s; see $dir/kube/double.log"
	"$PY" - "$dir" <<'EOF'
import json, os, sys
d = sys.argv[1]
ready = json.load(open(os.path.join(d, "kube", "ready.json")))
urls = [a["server"] for a in ready["apiservers"]]
with open(ready["kubeconfig"]) as f:
    text = f.read()
# The talm project's kubeconfig: the double's admin credential, aimed at cp1.
old = "    server: %s\n" % ready["server"]
if text.count(old) != 1:
    sys.exit("talos_cluster: unexpected kubeconfig layout from the Kubernetes double")
path = os.path.join(d, "project", "kubeconfig")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(text.replace(old, "    server: %s\n" % urls[0]))
env = ("KUBE_DOUBLE_PID=%d\nKUBE_CONTROL=http://127.0.0.1:%d\nKUBE_CONTROL_TOKEN=%s\n"
       "KUBE_READY=%s\nKUBE_KUBECONFIG=%s\nKUBE_API_URLS=%s\n"
       % (ready["pid"], ready["control_port"], ready["control_token"],
          os.path.join(d, "kube", "ready.json"), path, ",".join(urls)))
with open(os.path.join(d, "cluster.env"), "a") as f:
    f.write(env)
sys.stdout.write(env)
EOF
}

# stop_pidfile FILE: TERM the process it names, KILL after 5 s; remove FILE.
stop_pidfile() {
	local pid i
	pid=$(cat "$1")
	[[ "$pid" =~ ^[0-9]+$ ]] || die "bad pid file $1"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

stop() {
	local dir=$1 f any=0
	for f in "$dir/kube/kube_double.pid" "$dir/talos/talos_double.pid"; do
		[[ -f "$f" ]] || continue
		stop_pidfile "$f"
		any=1
	done
	if [[ $any == 0 ]]; then
		printf 'talos_cluster: nothing running in %s\n' "$dir" >&2
		return 0
	fi
	printf 'talos_cluster: SIMULATED Talos cluster in %s stopped\n' "$dir" >&2
}

state() {
	local dir=$1 control
	control=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$dir/talos/ready.json")
	"$PY" -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1] + "/state", timeout=10).read().decode())' "$control"
}

probe() {
	local dir=$1 tc=$2 ctx=${3:-}
	"$PY" - "$dir/talos/ready.json" "$tc" "$ctx" <<'EOF'
import base64, json, sys
import grpc, yaml
ready = json.load(open(sys.argv[1]))
cfg = yaml.safe_load(open(sys.argv[2]))
ctx = cfg["contexts"][sys.argv[3] or cfg["context"]]
pem = lambda k: base64.b64decode(ctx[k])
key = pem("key").replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY")
creds = grpc.ssl_channel_credentials(root_certificates=pem("ca"), private_key=key,
                                     certificate_chain=pem("crt"))
# Through the talosconfig's first endpoint with `node` metadata, as talosctl
# does, for a node with no listener of its own; directly otherwise.
ep = ctx.get("endpoints", [None])[0]
for n in ready["nodes"]:
    direct = n.get("direct", True)
    ch = grpc.secure_channel("%s:%d" % (n["ip"], n["port"]) if direct else ep, creds,
                             options=[("grpc.use_local_subchannel_pool", 1)])
    call = ch.unary_unary("/machine.MachineService/Version",
                          request_serializer=lambda x: x, response_deserializer=lambda x: x)
    try:
        call(b"", timeout=10, metadata=None if direct else (("node", n["ip"]),))
        print(n["name"], "ok")
    except grpc.RpcError as e:
        # A refused client certificate ends the handshake: the client sees
        # UNAVAILABLE before any RPC reaches the node.
        kind = "refused" if e.code() == grpc.StatusCode.UNAVAILABLE else "error"
        print(n["name"], kind, e.code().name + ":", (e.details() or "").replace("\n", " ")[:200])
    finally:
        ch.close()
EOF
}

kprobe() {
	local dir=$1 kc=$2 mode=${3:-ssr}
	[[ "$mode" == ssr || "$mode" == version ]] || die "kprobe mode is ssr or version"
	[[ -s "$dir/kube/ready.json" ]] || die "no Kubernetes double in $dir (start it with TALOS_CLUSTER_KUBE=1)"
	"$PY" - "$dir" "$kc" "$mode" <<'EOF'
import base64, http.client, json, os, socket, ssl, sys, tempfile
import yaml
d, kc_path, mode = sys.argv[1:4]
ready = json.load(open(os.path.join(d, "kube", "ready.json")))
kc = yaml.safe_load(open(kc_path))
def named(kind, name):
    items = kc.get(kind) or []
    for it in items:
        if it.get("name") == name:
            return it
    return items[0] if items and name is None else None
cur = named("contexts", kc.get("current-context")) or {}
c = cur.get("context") or {}
cl = (named("clusters", c.get("cluster")) or {}).get("cluster") or {}
us = (named("users", c.get("user")) or {}).get("user") or {}
ctx = ssl.create_default_context(cadata=base64.b64decode(cl["certificate-authority-data"]).decode())
if us.get("client-certificate-data"):
    # ssl loads a key from a file only: a private 0700 directory, removed at once.
    with tempfile.TemporaryDirectory(dir=d, prefix=".kprobe-") as t:
        crt, key = os.path.join(t, "c"), os.path.join(t, "k")
        with open(crt, "wb") as f:
            f.write(base64.b64decode(us["client-certificate-data"]))
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(us["client-key-data"]))
        ctx.load_cert_chain(crt, key)
headers = {"Accept": "application/json"}
if us.get("token"):
    headers["Authorization"] = "Bearer " + us["token"]
for a in ready["apiservers"]:
    h = http.client.HTTPSConnection("127.0.0.1", a["port"], context=ctx, timeout=10)
    try:
        if mode == "ssr":
            body = json.dumps({"apiVersion": "authentication.k8s.io/v1",
                               "kind": "SelfSubjectReview"})
            h.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body,
                      dict(headers, **{"Content-Type": "application/json"}))
        else:
            h.request("GET", "/version", headers=headers)
        r = h.getresponse()
        data = r.read()
        if r.status in (401, 403):
            print(a["name"], "refused", r.status)
        elif mode == "ssr" and r.status == 201:
            print(a["name"], "ok", json.loads(data)["status"]["userInfo"]["username"])
        elif mode == "version" and r.status == 200:
            print(a["name"], "ok", json.loads(data)["gitVersion"])
        else:
            print(a["name"], "error", "http %d" % r.status)
    except (OSError, ssl.SSLError, http.client.HTTPException, ValueError, KeyError) as e:
        print(a["name"], "error", (type(e).__name__ + ": " + str(e)).replace("\n", " ")[:160])
    finally:
        h.close()
EOF
}

kaccept() {
	local dir=$1 node=$2 op=$3 pem=$4 where=${5:-auto} try=${6:-}
	[[ "$op" == add || "$op" == remove ]] || die "usage: $0 $KACCEPT_USAGE"
	[[ "$where" =~ ^(auto|cluster|kube)$ ]] || die "usage: $0 $KACCEPT_USAGE"
	[[ -z "$try" || "$try" =~ ^try=[0-9]+(\.[0-9]+)?$ ]] || die "usage: $0 $KACCEPT_USAGE"
	"$PY" - "$dir" "$node" "$op" "$pem" "$where" "${try#try=}" <<'EOF'
import base64, json, os, sys
import grpc, yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
d, node, op, pem_path, where, try_s = sys.argv[1:7]
ready = json.load(open(os.path.join(d, "talos", "ready.json")))
n = next((x for x in ready["nodes"] if x["name"] == node), None)
if n is None:
    sys.exit("kaccept: no node %s" % node)
def fp(pem):
    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
ca_pem = open(pem_path, "rb").read()
want = fp(ca_pem)
ca_pem = x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.PEM)

def varint(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)
def field(num, data):
    data = data.encode() if isinstance(data, str) else data
    return varint(num << 3 | 2) + varint(len(data)) + data
def fields(buf):
    out, i = {}, 0
    while i < len(buf):
        key = shift = 0
        while True:
            b = buf[i]; i += 1; key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        wt = key & 7
        if wt == 2:
            ln = shift = 0
            while True:
                b = buf[i]; i += 1; ln |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
            out.setdefault(key >> 3, []).append(buf[i:i + ln]); i += ln
        elif wt == 0:
            while buf[i] & 0x80:
                i += 1
            i += 1
        else:
            sys.exit("kaccept: unexpected protobuf wire type %d" % wt)
    return out

tc = yaml.safe_load(open(os.path.join(d, "project", "talosconfig")))
ctx = tc["contexts"][tc["context"]]
b = lambda k: base64.b64decode(ctx[k])
creds = grpc.ssl_channel_credentials(
    root_certificates=b("ca"), certificate_chain=b("crt"),
    private_key=b("key").replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY"))
ch = grpc.secure_channel("127.0.0.1:%d" % n["port"], creds,
                         options=[("grpc.use_local_subchannel_pool", 1)])
raw = lambda m: ch.unary_unary(m, request_serializer=lambda x: x, response_deserializer=lambda x: x)
try:
    resp = raw("/cosi.resource.State/Get")(
        field(1, "config") + field(2, "MachineConfigs.config.talos.dev") + field(3, "v1alpha1"),
        timeout=10)
    spec = fields(fields(fields(resp)[1][0])[2][0])
    docs = [x for x in yaml.safe_load_all(fields(spec[1][0])[1][0]) if x is not None]
    kd = next((x for x in docs if x.get("kind") == "KubeAPIServerCAConfig"), None)
    if where == "auto":
        where = "kube" if kd is not None else "cluster"
    if where == "kube":
        if kd is None:
            sys.exit("kaccept: %s has no KubeAPIServerCAConfig document" % node)
        lst = kd.get("acceptedCAs") or []
        lst = [p for p in lst if fp(p.encode()) != want]
        if op == "add":
            lst.append(ca_pem.decode())
        kd["acceptedCAs"] = lst
    else:
        v1 = next(x for x in docs if x.get("version") == "v1alpha1")
        cl = v1.setdefault("cluster", {})
        lst = [e for e in (cl.get("acceptedCAs") or [])
               if fp(base64.b64decode(e["crt"])) != want]
        if op == "add":
            lst.append({"crt": base64.b64encode(ca_pem).decode()})
        cl["acceptedCAs"] = lst

    class Dumper(yaml.SafeDumper):
        pass
    Dumper.add_representer(str, lambda dd, v: dd.represent_scalar(
        "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))
    data = yaml.dump_all(docs, Dumper=Dumper, sort_keys=False, width=1 << 20).encode()
    req = field(1, data)
    if try_s:
        sec = float(try_s)
        dur = varint(1 << 3) + varint(int(sec)) + varint(2 << 3) + varint(int((sec % 1) * 1e9))
        req += varint(4 << 3) + varint(4) + field(6, dur)
    else:
        req += varint(4 << 3) + varint(2)
    raw("/machine.MachineService/ApplyConfiguration")(req, timeout=10)
    print("%s %s %s: %d accepted CAs" % (node, where, op, len(lst)))
except grpc.RpcError as e:
    sys.exit("kaccept: %s: %s: %s" % (node, e.code().name, (e.details() or "")[:200]))
finally:
    ch.close()
EOF
}

KPROBE_USAGE="kprobe DIR KUBECONFIG [ssr|version]"
KACCEPT_USAGE="kaccept DIR NODE add|remove PEMFILE [auto|cluster|kube] [try=SECONDS]"

case "${1:-}" in
start) [[ $# -ge 2 ]] || die "usage: $0 start DIR [CP [WORKERS]]"; start "${@:2}" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
state) [[ $# -eq 2 ]] || die "usage: $0 state DIR"; state "$2" ;;
probe) [[ $# -ge 3 ]] || die "usage: $0 probe DIR TALOSCONFIG [CONTEXT]"; probe "${@:2}" ;;
kprobe) [[ $# -ge 3 && $# -le 4 ]] || die "usage: $0 $KPROBE_USAGE"; kprobe "${@:2}" ;;
kaccept) [[ $# -ge 5 && $# -le 7 ]] || die "usage: $0 $KACCEPT_USAGE"; kaccept "${@:2}" ;;
*) die "usage: $0 start DIR [CP [WORKERS]] | stop DIR | state DIR | probe DIR TALOSCONFIG [CONTEXT] | $KPROBE_USAGE | $KACCEPT_USAGE" ;;
esac
