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
# node's IP.  The double stops by itself after TALOS_CLUSTER_DEADLINE seconds
# (default 3600).  Needs Debian's python3-grpcio, python3-cryptography and
# python3-yaml for /usr/bin/python3.
set -euo pipefail

PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	printf 'talos_cluster: %s\n' "$*" >&2
	exit 1
}

start() {
	local dir=$1 ncp=${2:-3} nwk=${3:-3} spec="" i pid
	[[ "$ncp" =~ ^[1-9][0-9]*$ && "$nwk" =~ ^[0-9]+$ ]] || die "bad node counts: $ncp $nwk"
	mkdir -p "$dir/talos"
	dir=$(cd "$dir" && pwd)
	[[ ! -e "$dir/project" ]] || die "$dir/project exists; stop and remove it first"
	for ((i = 1; i <= ncp; i++)); do spec+="${spec:+,}cp$i:controlplane"; done
	for ((i = 1; i <= nwk; i++)); do spec+="${spec:+,}w$i:worker"; done
	rm -f "$dir/talos/ready.json"
	"$PY" "$HERE/talos_double.py" --state-dir "$dir/talos" --nodes "$spec" \
		--deadline "${TALOS_CLUSTER_DEADLINE:-3600}" --ready-file "$dir/talos/ready.json" \
		--pid-file "$dir/talos/talos_double.pid" >"$dir/talos/double.log" 2>&1 </dev/null &
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
    addr = "%s:%d" % (n["ip"], n["port"])
    eps = addr if n["role"] == "controlplane" else None
    cps = [x for x in ready["nodes"] if x["role"] == "controlplane"]
    ep = "%s:%d" % (cps[0]["ip"], cps[0]["port"])
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
	printf 'talos_cluster: SIMULATED Talos cluster (test double, not Talos): %d control plane + %d worker nodes on 127.0.0.1, talm project %s/project\n' \
		"$ncp" "$nwk" "$dir" >&2
}

stop() {
	local dir=$1 pid i
	[[ -f "$dir/talos/talos_double.pid" ]] || { printf 'talos_cluster: nothing running in %s\n' "$dir" >&2; return 0; }
	pid=$(cat "$dir/talos/talos_double.pid")
	[[ "$pid" =~ ^[0-9]+$ ]] || die "bad pid file"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/talos/talos_double.pid"
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
for n in ready["nodes"]:
    ch = grpc.secure_channel("%s:%d" % (n["ip"], n["port"]), creds,
                             options=[("grpc.use_local_subchannel_pool", 1)])
    call = ch.unary_unary("/machine.MachineService/Version",
                          request_serializer=lambda x: x, response_deserializer=lambda x: x)
    try:
        call(b"", timeout=10)
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

case "${1:-}" in
start) [[ $# -ge 2 ]] || die "usage: $0 start DIR [CP [WORKERS]]"; start "${@:2}" ;;
stop) [[ $# -eq 2 ]] || die "usage: $0 stop DIR"; stop "$2" ;;
state) [[ $# -eq 2 ]] || die "usage: $0 state DIR"; state "$2" ;;
probe) [[ $# -ge 3 ]] || die "usage: $0 probe DIR TALOSCONFIG [CONTEXT]"; probe "${@:2}" ;;
*) die "usage: $0 start DIR [CP [WORKERS]] | stop DIR | state DIR | probe DIR TALOSCONFIG [CONTEXT]" ;;
esac
