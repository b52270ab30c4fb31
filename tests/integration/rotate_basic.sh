#!/usr/bin/env bash
# Issue 5, "What it must show", items 1, 4 and 5, against the Talos API double
# (3 control planes + 3 workers, SIMULATED: tests/doubles/talos_cluster.sh):
#   - the dry run prints the plan and changes nothing (token objects, node
#     configs and files compared before and after), for a first adoption and
#     for a rotation;
#   - the real run completes all seven steps; afterwards the new talosconfig
#     works on every node (checked with Python grpc, not hsmca's client), the
#     old one is refused, the old key is gone, the audit log shows every step;
#   - no private key bytes in any file hsmca writes except the 0600
#     talosconfig, nor in its output, audit log or journal;
#   - two concurrent rotate-ca runs: the second is refused by the lock;
#   - command line: talm forms (--flag, --flag=true|false), --kubernetes=true
#     refused, bad combinations are usage errors; talos issue-config.
#
# The first part of this file is a small library the other rotate_*.sh tests
# source with ROTATE_LIB_ONLY=1.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

# ---------------------------------------------------------------- library

CLUSTER_SH=$HSMCA_TEST_SRCDIR/tests/doubles/talos_cluster.sh
PY=/usr/bin/python3

# rot_setup: temp dir, embedded SoftHSM2 token, a SIMULATED cluster of 3
# control planes and 3 workers with its talm project.  Sets C (cluster dir),
# PROJECT, NODEFILE (cp1's node file), TC (project talosconfig), CONTROL.
rot_setup() {
	it_setup
	cd "$WORK"
	mkdir -p "$WORK/outs"
	OUTN=0
	"$HSMCA" init --softhsm >/dev/null 2>&1 || { it_fail "hsmca init --softhsm"; return 1; }
	C=$WORK/cluster
	it_defer "$CLUSTER_SH" stop "$C"
	TALOS_CLUSTER_DEADLINE=900 "$CLUSTER_SH" start "$C" 3 3 >"$WORK/cluster.out" 2>&1 ||
		{ cat "$WORK/cluster.out" >&2; it_fail "start the simulated cluster"; return 1; }
	# shellcheck disable=SC1091
	. "$C/cluster.env"
	it_register_pid "$TALOS_DOUBLE_PID"
	PROJECT=$TALOS_PROJECT
	NODEFILE=$TALOS_NODE_FILE
	TC=$TALOS_TALOSCONFIG
	CONTROL=$TALOS_CONTROL
	# Calls fail fast against a node that is down; changes apply at once here.
	export HSMCA_TALOS_DEADLINE=${HSMCA_TALOS_DEADLINE:-4}
	export HSMCA_ROTATE_SETTLE=${HSMCA_ROTATE_SETTLE:-3}
	unset HSMCA_FAULT
}

# rot NAME ARGS...: run hsmca, keeping stdout/stderr in $WORK/outs/<n>-NAME.*
# (scanned for key material at the end); sets ROT_OUT/ROT_ERR; returns its status.
rot() {
	local name=$1 rc=0
	shift
	OUTN=$((OUTN + 1))
	ROT_OUT=$WORK/outs/$OUTN-$name.out
	ROT_ERR=$WORK/outs/$OUTN-$name.err
	"$HSMCA" "$@" >"$ROT_OUT" 2>"$ROT_ERR" || rc=$?
	rot_note_id "$ROT_OUT"
	return $rc
}

# rot_note_id FILE: remember the id of a rotation that FILE says completed.
# Ids begin with a second-resolution time and end in random hex, so two
# rotations begun in the same second do not sort in the order they ran: the
# last rotation is the one hsmca last reported, never the greatest name.
ROT_LAST_ID=
rot_note_id() {
	local id
	id=$(sed -n 's/^rotation \([^ ]*\) complete: .*/\1/p' "$1" 2>/dev/null | tail -1)
	[[ -z "$id" ]] || ROT_LAST_ID=$id
}

# rot_expect RC NAME ARGS...: rot, then check the status (shows output on mismatch).
rot_expect() {
	local want=$1 name=$2 rc=0
	shift 2
	rot "$name" "$@" || rc=$?
	if [[ $rc != "$want" ]]; then
		it_fail "$name: hsmca $* exited $rc, expected $want" || true
		sed 's/^/  out| /' "$ROT_OUT" >&2
		sed 's/^/  err| /' "$ROT_ERR" >&2
		return 1
	fi
	it_pass "$name: exit $want"
}

# rot_rotate NAME [ENV=VALUE...] -- [ARGS...]: a real rotation of the project.
rot_rotate() {
	local name=$1
	shift
	rot "$name" -f "$NODEFILE" rotate-ca --talos=true --kubernetes=false --dry-run=false "$@"
}

# rot_fp CA: SHA-256 (hex) of the DER certificate of the CA in the state dir.
rot_fp() {
	openssl x509 -in "$HSMCA_HOME/cas/$1/ca.pem" -outform DER | sha256sum | cut -d' ' -f1
}

rot_current() {
	cat "$HSMCA_HOME/talos/access-ca" 2>/dev/null || true
}

# rot_state: the double's /state
rot_state() {
	"$PY" -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]+"/state",timeout=10).read().decode())' "$CONTROL"
}

# rot_fault NODE QUERY: a fault switch of the double, e.g. rot_fault w2 down=1
rot_fault() {
	"$PY" -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1]+"/fault?node="+sys.argv[2]+"&"+sys.argv[3],timeout=10).read()' "$CONTROL" "$1" "$2"
}

# rot_accepted: "name fp,fp" per node (machine.acceptedCAs).
rot_accepted() {
	rot_state | "$PY" -c 'import json,sys
for n in json.load(sys.stdin)["nodes"]: print(n["name"], ",".join(n["machine_accepted"]))'
}

# rot_keys: sorted labels of the private keys in the token, but the audit
# key (init makes it; it signs audit checkpoints, not certificates).
rot_keys() {
	"$HSMCA" --json key list 2>/dev/null | "$PY" -c 'import json,sys
print(" ".join(sorted(k["label"] for k in json.load(sys.stdin) if k["label"] != "hsmca-audit")))'
}

# rot_check_accepted_exactly FP: every node accepts exactly that access CA.
rot_check_accepted_exactly() {
	local fp=$1 bad
	bad=$(rot_accepted | awk -v fp="$fp" '$2 != fp')
	if [[ -z "$bad" ]]; then
		it_pass "every node accepts exactly ${fp:0:12}…"
	else
		it_fail "nodes not accepting exactly ${fp:0:12}…: $bad"
	fi
}

# rot_check_never_neither OLDFP NEWFP: every node accepts at least one of them.
rot_check_never_neither() {
	local old=$1 new=$2 bad
	bad=$(rot_accepted | awk -v o="$old" -v n="$new" 'index($2, o) == 0 && index($2, n) == 0')
	if [[ -z "$bad" ]]; then
		it_pass "no node trusts neither the old nor the new access CA"
	else
		it_fail "nodes trusting neither access CA: $bad"
	fi
}

# rot_probe TALOSCONFIG WANT: every node answers Version ("ok") or refuses
# the client certificate ("refused"), each on a new connection.
rot_probe() {
	local tc=$1 want=$2 out bad
	out=$("$CLUSTER_SH" probe "$C" "$tc" 2>&1) || true
	bad=$(printf '%s\n' "$out" | awk -v w="$want" '$2 != w')
	if [[ -z "$bad" && $(printf '%s\n' "$out" | wc -l) == 6 ]]; then
		it_pass "$(basename "$tc"): $want on all 6 nodes"
	else
		it_fail "$(basename "$tc"): expected $want on all 6 nodes, got: $out"
	fi
}

# rot_check_node_files FP [SECTION [CP_ONLY]]: every project node file carries
# exactly that CA in SECTION.acceptedCAs (default machine); with CP_ONLY=1 only
# control-plane files (w*.yaml are workers) do, and workers' carry none.
rot_check_node_files() {
	local fp=$1 section=${2:-machine} cp_only=${3:-0} out
	out=$("$PY" - "$PROJECT/nodes" "$fp" "$section" "$cp_only" <<'EOF'
import base64, glob, hashlib, os, sys, yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
bad = []
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    doc = yaml.safe_load(open(f))
    fps = [hashlib.sha256(x509.load_pem_x509_certificate(base64.b64decode(e["crt"]))
                          .public_bytes(Encoding.DER)).hexdigest()
           for e in ((doc.get(sys.argv[3]) or {}).get("acceptedCAs") or [])]
    worker = os.path.basename(f).startswith("w")
    want = [] if sys.argv[4] == "1" and worker else [sys.argv[2]]
    if fps != want:
        bad.append("%s: %s" % (os.path.basename(f), fps))
print("\n".join(bad))
EOF
)
	if [[ -z "$out" ]]; then
		it_pass "node files carry exactly ${fp:0:12}… in $section.acceptedCAs$([[ $cp_only == 1 ]] && echo " (control planes; workers none)")"
	else
		it_fail "node files: $out"
	fi
}

# rot_check_audit ROTATION_ID HAS_OLD: the audit log chain is intact and
# shows every step of that rotation begun and ended (or skipped) in order,
# and (HAS_OLD=1) the old key destroyed only after prove-revoked ended.
rot_check_audit() {
	local id=$1 has_old=$2 out
	"$HSMCA" audit verify >/dev/null 2>&1 && it_pass "audit log chain intact" ||
		it_fail "audit verify failed"
	out=$("$PY" - "$HSMCA_HOME/audit.log" "$id" "$has_old" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
rid, has_old = sys.argv[2], sys.argv[3] == "1"
steps = ["prepare", "trust-new", "issue", "verify-new", "distrust-old", "prove-revoked", "retire"]
mine = [l for l in lines if l.get("detail", {}).get("rotation") == rid]
ends = {}
for i, l in enumerate(mine):
    d = l["detail"]
    if l["event"] == "rotate-step" and d.get("phase") in ("end", "skipped"):
        ends.setdefault(d["step"], i)
bad = [s for s in steps if s not in ends]
if [ends[s] for s in steps if s in ends] != sorted(ends[s] for s in steps if s in ends):
    bad.append("steps ended out of order")
if not any(l["event"] == "rotate-finish" for l in mine):
    bad.append("no rotate-finish")
destroys = [i for i, l in enumerate(mine) if l["event"] == "destroy"
            and "retired" in l.get("detail", {}).get("reason", "")]
if has_old:
    if len(destroys) != 1:
        bad.append("%d destroy events of the old key" % len(destroys))
    elif "prove-revoked" not in ends or destroys[0] < ends["prove-revoked"]:
        bad.append("old key destroyed before prove-revoked ended")
elif destroys:
    bad.append("a key was destroyed in a first adoption")
print("; ".join(bad))
EOF
)
	if [[ -z "$out" ]]; then
		it_pass "audit log shows all 7 steps of $id in order (old key: $([[ $has_old == 1 ]] && echo "destroyed after prove-revoked" || echo "none"))"
	else
		it_fail "audit log for $id: $out"
	fi
}

# rot_last_id: id of the rotation hsmca last reported complete (rot_note_id).
rot_last_id() {
	[[ -n "$ROT_LAST_ID" && -f "$HSMCA_HOME/rotate/history/$ROT_LAST_ID.journal" ]] ||
		{ echo "rot_last_id: no completed rotation seen" >&2; return 1; }
	printf '%s\n' "$ROT_LAST_ID"
}

# rot_check_end OLDCA NEWCA OLDTC: the end state of a finished rotation
# OLDCA -> NEWCA, OLDTC being a saved copy of the talosconfig of OLDCA.
rot_check_end() {
	local old=$1 new=$2 oldtc=$3 newfp
	newfp=$(rot_fp "$new")
	it_assert_eq "$new" "$(rot_current)" "current access CA is $new"
	[[ ! -e "$HSMCA_HOME/rotate/journal" ]] && it_pass "journal archived (no rotation in progress)" ||
		it_fail "a journal is still active"
	rot_check_accepted_exactly "$newfp"
	rot_check_node_files "$newfp"
	rot_probe "$TC" ok
	rot_probe "$oldtc" refused
	it_assert_eq "$new-key" "$(rot_keys)" "the token holds only the new key ($old-key destroyed)"
	[[ -f "$HSMCA_HOME/cas/$old/retired.json" && -f "$HSMCA_HOME/cas/$old/ca.pem" ]] &&
		it_pass "$old kept as retired" || it_fail "$old not marked retired"
	it_assert_eq "600" "$(stat -c %a "$TC")" "talosconfig mode 0600"
	rot_check_audit "$(rot_last_id)" 1
}

# rot_violations: the double's security oracle must have found nothing.
rot_check_oracle() {
	local n
	n=$(rot_state | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["violations"])')
	it_assert_eq "0" "$n" "Talos double oracle: no private key sent to a node"
}

# rot_leak_scan: no private key material in any file hsmca wrote (state
# directory minus the token store and PIN files, the talm project minus the
# 0600 talosconfig), nor in any captured output.  The scanner looks for PEM
# private-key labels (also inside base64 at any depth), DER private keys
# (PKCS#8, SEC1, PKCS#1, parsed by cryptography) and the exact key bytes
# of every talosconfig seen.  It is shown to find the key in the talosconfig.
rot_leak_scan() {
	local out
	out=$("$PY" - "$HSMCA_HOME" "$PROJECT" "$WORK/outs" "$WORK/keys" <<'EOF'
import base64, binascii, os, re, sys
from cryptography.hazmat.primitives import serialization
home, project, outs, keysdir = sys.argv[1:5]
B64 = re.compile(rb"[A-Za-z0-9+/=\r\n]{40,}")
PEMKEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
known = []
for f in (os.listdir(keysdir) if os.path.isdir(keysdir) else []):
    known.append(open(os.path.join(keysdir, f), "rb").read())

def der_keys(buf):
    # Try an ASN.1 SEQUENCE at every offset that looks like the start of a
    # private key: version INTEGER 0 (PKCS#8, PKCS#1) or 1 (SEC1).
    for m in re.finditer(rb"\x30(?:[\x00-\x7f]|\x81.|\x82..)\x02\x01[\x00\x01]", buf, re.S):
        try:
            hdr = buf[m.start() + 1]
            if hdr < 0x80: ln, off = hdr, 2
            elif hdr == 0x81: ln, off = buf[m.start() + 2], 3
            else: ln, off = int.from_bytes(buf[m.start() + 2:m.start() + 4], "big"), 4
            serialization.load_der_private_key(buf[m.start():m.start() + off + ln], None)
            return True
        except Exception:
            continue
    return False

def hits(buf, depth=0):
    found = []
    if PEMKEY.search(buf): found.append("PEM private key label")
    if der_keys(buf): found.append("DER private key")
    for k in known:
        if k and k in buf: found.append("known key bytes")
    if depth < 3:
        for m in B64.finditer(buf):
            s = re.sub(rb"\s", b"", m.group())
            for cut in range(4):
                t = s[cut:]
                t = t[:len(t) - len(t) % 4]
                try:
                    dec = base64.b64decode(t, validate=True)
                except (binascii.Error, ValueError):
                    continue
                found += ["base64(%s)" % h for h in hits(dec, depth + 1)]
    return found

bad, scanned, selftest = [], 0, []
for root, dirs, files in os.walk(home):
    rel = os.path.relpath(root, home)
    if rel.split(os.sep)[0] in ("tokens", "pins"):
        continue
    for f in files:
        p = os.path.join(root, f)
        scanned += 1
        h = hits(open(p, "rb").read())
        if h: bad.append("%s: %s" % (p, sorted(set(h))))
for root, dirs, files in os.walk(project):
    for f in files:
        p = os.path.join(root, f)
        h = hits(open(p, "rb").read())
        if p == os.path.join(project, "talosconfig"):
            selftest = h
            continue
        if os.path.relpath(p, project) in os.environ.get("ROT_SECRET_FILES", "").split():
            continue  # another 0600 credential file, checked by its test
        scanned += 1
        if h: bad.append("%s: %s" % (p, sorted(set(h))))
for f in sorted(os.listdir(outs)):
    scanned += 1
    h = hits(open(os.path.join(outs, f), "rb").read())
    if h: bad.append("output %s: %s" % (f, sorted(set(h))))
if not selftest:
    bad.append("scanner self-test: found no key in the 0600 talosconfig")
print("scanned=%d" % scanned)
print("\n".join(bad))
EOF
)
	if [[ $(printf '%s\n' "$out" | sed 1d | grep -c .) == 0 ]]; then
		it_pass "no private key material in files hsmca wrote or its output ($(head -1 <<<"$out"), scanner finds the talosconfig key)"
	else
		it_fail "key material found: $out"
	fi
}

# rot_save_key TALOSCONFIG NAME: remember that talosconfig's key (DER) so the
# leak scan also looks for its exact bytes.
rot_save_key() {
	mkdir -p "$WORK/keys"
	"$PY" - "$1" "$WORK/keys/$2" <<'EOF'
import base64, sys, yaml
from cryptography.hazmat.primitives import serialization
c = yaml.safe_load(open(sys.argv[1]))
ctx = c["contexts"][c["context"]]
pem = base64.b64decode(ctx["key"]).replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY")
k = serialization.load_pem_private_key(pem, None)
open(sys.argv[2], "wb").write(k.private_bytes(serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
EOF
}

# rot_snapshot NAME: token objects, node configs, state dir and project files.
rot_snapshot() {
	{
		echo "== keys"; rot_keys
		echo "== nodes"
		rot_state | "$PY" -c 'import json,sys
for n in json.load(sys.stdin)["nodes"]: print(n["name"], n["config_version"], n["config_sha256"], n["machine_accepted"])'
		# SoftHSM2 rewrites its token.object on every login: token objects
		# are compared through PKCS#11 instead (all of them, public too).
		echo "== token objects"
		SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf it_snapshot_token "$(cat "$HSMCA_HOME/pins/user.pin")" |
			grep -v "^Using slot" || true
		echo "== home"; it_snapshot_dir "$HSMCA_HOME" | grep -v " ./tokens/"
		echo "== home modes"; (cd "$HSMCA_HOME" && find . -path ./tokens -prune -o -printf '%p %m %s\n' | LC_ALL=C sort)
		echo "== project"; it_snapshot_dir "$PROJECT"
	} >"$WORK/snap-$1"
}


# rot_py_checks ARGS...: run $WORK/check.py (one Python process for many
# checks); its "PASS msg" / "FAIL msg" lines become results.
rot_py_checks() {
	local line rc=0
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) it_pass "${line#PASS }" ;;
		"FAIL "*) it_fail "${line#FAIL }" || rc=1 ;;
		*) printf '%s\n' "$line" >&2 ;;
		esac
	done < <("$PY" "$WORK/check.py" "$@" 2>&1 || echo "FAIL check.py $1 crashed")
	return $rc
}

# rot_write_checker: the Python side of the crash checks.
rot_write_checker() {
	cat >"$WORK/check.py" <<'EOF'
import base64, glob, hashlib, json, os, subprocess, sys, urllib.request
import grpc, yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

def ok(m): print("PASS", m)
def bad(m): print("FAIL", m)
def fp_of(pem): return hashlib.sha256(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)).hexdigest()
def ca_fp(home, ca):
    p = os.path.join(home, "cas", ca, "ca.pem")
    return fp_of(open(p, "rb").read()) if os.path.exists(os.path.join(home, "cas", ca, "ca.yaml")) else None
def state(control): return json.loads(urllib.request.urlopen(control + "/state", timeout=10).read())

def probe(ready, tc):
    cfg = yaml.safe_load(open(tc)); ctx = cfg["contexts"][cfg["context"]]
    pem = lambda k: base64.b64decode(ctx[k])
    creds = grpc.ssl_channel_credentials(pem("ca"), pem("key").replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY"), pem("crt"))
    out = {}
    ep = ctx.get("endpoints", [None])[0]
    for n in ready["nodes"]:
        # A node without a listener of its own: through the endpoint, as talosctl.
        direct = n.get("direct", True)
        ch = grpc.secure_channel("%s:%d" % (n["ip"], n["port"]) if direct else ep, creds,
                                 options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            ch.unary_unary("/machine.MachineService/Version", request_serializer=lambda x: x,
                           response_deserializer=lambda x: x)(
                b"", timeout=10, metadata=None if direct else (("node", n["ip"]),))
            out[n["name"]] = "ok"
        except grpc.RpcError as e:
            out[n["name"]] = "refused" if e.code() == grpc.StatusCode.UNAVAILABLE else e.code().name
        finally:
            ch.close()
    return out

def expect_probe(ready, tc, want, what):
    r = probe(ready, tc)
    wrong = {k: v for k, v in r.items() if v != want}
    (ok if not wrong and len(r) == 6 else bad)("%s: %s on all 6 nodes%s" % (what, want, " (got %s)" % wrong if wrong else ""))

env = dict(a.split("=", 1) for a in sys.argv[2:] if "=" in a)
home, control = env["home"], env["control"]
ready = json.load(open(env["ready"]))
keys = set(k["label"] for k in json.load(open(env["keys"])) if k["label"] != "hsmca-audit")
mode = sys.argv[1]
old = env["old"]; oldfp = ca_fp(home, old)

if mode == "killed":
    st = json.load(open(env["status"])); p = env["point"]
    steps = {x["step"]: x for x in st["steps"]}
    (ok if st["active"] and not st["running"] else bad)("%s: journal kept, lock free after kill -9" % p)
    proven = steps["prove-revoked"]["state"] == "done" and steps["prove-revoked"]["nodes_done"] == 6
    if not proven:
        (ok if old + "-key" in keys else bad)("%s: old key still in the token (revocation not yet proven everywhere)" % p)
    newfp = ca_fp(home, st["new_ca"])
    acc = {n["name"]: n["machine_accepted"] for n in state(control)["nodes"]}
    if newfp:
        neither = [k for k, v in acc.items() if oldfp not in v and newfp not in v]
        (ok if not neither else bad)("%s: no node trusts neither the old nor the new access CA%s" % (p, " (%s)" % neither if neither else ""))
    else:
        wrong = [k for k, v in acc.items() if v != [oldfp]]
        (ok if not wrong else bad)("%s: new CA not made yet; every node accepts exactly the old one%s" % (p, wrong or ""))
    if steps["distrust-old"]["state"] == "pending":
        expect_probe(ready, env["oldtc"], "ok", "%s: old talosconfig (distrust-old not begun)" % p)
elif mode == "end":
    new = env["new"]; newfp = ca_fp(home, new)
    cur = open(os.path.join(home, "talos", "access-ca")).read().strip()
    (ok if cur == new else bad)("current access CA is %s (%s)" % (new, cur))
    (ok if not os.path.exists(os.path.join(home, "rotate", "journal")) else bad)("journal archived")
    acc = {n["name"]: n["machine_accepted"] for n in state(control)["nodes"]}
    wrong = {k: v for k, v in acc.items() if v != [newfp]}
    (ok if not wrong else bad)("every node accepts exactly %s%s" % (new, " (got %s)" % wrong if wrong else ""))
    wrongf = []
    for f in sorted(glob.glob(env["project"] + "/nodes/*.yaml")):
        d = yaml.safe_load(open(f))
        fps = [fp_of(base64.b64decode(e["crt"])) for e in (d.get("machine", {}).get("acceptedCAs") or [])]
        if fps != [newfp]: wrongf.append(os.path.basename(f))
    (ok if not wrongf else bad)("every node file carries exactly %s%s" % (new, wrongf or ""))
    expect_probe(ready, env["tc"], "ok", "new talosconfig")
    expect_probe(ready, env["oldtc"], "refused", "old talosconfig")
    (ok if keys == {new + "-key"} else bad)("the token holds only %s-key (%s)" % (new, sorted(keys)))
    (ok if os.path.exists(os.path.join(home, "cas", old, "retired.json")) else bad)("%s kept as retired" % old)
    (ok if oct(os.stat(env["tc"]).st_mode & 0o777) == "0o600" else bad)("talosconfig mode 0600")
    rid = env["rid"]
    lines = [json.loads(l) for l in open(os.path.join(home, "audit.log"))]
    mine = [l for l in lines if l.get("detail", {}).get("rotation") == rid]
    names = ["prepare", "trust-new", "issue", "verify-new", "distrust-old", "prove-revoked", "retire"]
    ends = {}
    for i, l in enumerate(mine):
        if l["event"] == "rotate-step" and l["detail"].get("phase") == "end":
            ends.setdefault(l["detail"]["step"], i)
    order = [ends.get(n, -1) for n in names]
    (ok if -1 not in order and order == sorted(order) else bad)("audit: all 7 steps of %s ended, in order" % rid)
    d = [i for i, l in enumerate(mine) if l["event"] == "destroy" and "retired" in l["detail"].get("reason", "")]
    (ok if len(d) == 1 and d[0] > ends.get("prove-revoked", 1 << 30) else bad)(
        "audit: old key destroyed once, after prove-revoked ended (%s)" % d)
    (ok if any(l["event"] == "rotate-finish" for l in mine) else bad)("audit: rotate-finish")
else:
    bad("unknown mode " + mode)
EOF
}

# rot_check_killed POINT OLDCA OLDTC: invariants of a rotation killed at POINT:
# the journal is kept and the lock free; the old key is in the token unless
# prove-revoked finished on all 6 nodes; every node accepts the old or the
# new access CA; before distrust-old began the old talosconfig still works.
rot_check_killed() {
	"$HSMCA" --json rotate status >"$WORK/status.json" 2>/dev/null
	"$HSMCA" --json key list >"$WORK/keys.json" 2>/dev/null
	rot_py_checks killed "point=$1" "old=$2" "oldtc=$3" "home=$HSMCA_HOME" "control=$CONTROL" \
		"ready=$C/talos/ready.json" "keys=$WORK/keys.json" "status=$WORK/status.json"
}

# rot_check_end_fast OLDCA NEWCA OLDTC: rot_check_end in one Python process.
rot_check_end_fast() {
	"$HSMCA" audit verify >/dev/null 2>&1 && it_pass "audit log chain intact" || it_fail "audit verify"
	"$HSMCA" --json key list >"$WORK/keys.json" 2>/dev/null
	rot_py_checks end "old=$1" "new=$2" "oldtc=$3" "tc=$TC" "home=$HSMCA_HOME" "control=$CONTROL" \
		"ready=$C/talos/ready.json" "keys=$WORK/keys.json" "project=$PROJECT" "rid=$(rot_last_id)"
}

# rot_crash POINT [POINT...]: one rotation of the project killed with
# HSMCA_FAULT=POINT, then killed again at each further POINT while resuming
# (points in the order the rotation reaches them), each kill point checked
# (rot_check_killed), then resumed to the end and checked to reach the same
# end state as an uninterrupted rotation.
rot_crash() {
	local p old rc new first=1
	old=$(rot_current)
	cp "$TC" "$WORK/old.tc"
	for p in "$@"; do
		rc=0
		if ((first)); then
			HSMCA_FAULT=$p rot_rotate "kill-$p" || rc=$?
		else
			HSMCA_FAULT=$p rot "kill-resume-$p" rotate-ca --resume --dry-run=false || rc=$?
		fi
		first=0
		if [[ $rc != 137 ]]; then
			it_fail "HSMCA_FAULT=$p: expected SIGKILL (137), got $rc: $(tail -3 "$ROT_ERR")"
			return 1
		fi
		it_pass "HSMCA_FAULT=$p: killed"
		rot_check_killed "$p" "$old" "$WORK/old.tc"
	done
	rot_expect 0 "resume-$p" rotate-ca --resume --dry-run=false || return 1
	new=$(rot_current)
	[[ "$new" != "$old" ]] && it_pass "$*: resumed to a new access CA ($old -> $new)" ||
		it_fail "$*: access CA did not change"
	rot_check_end_fast "$old" "$new" "$WORK/old.tc"
}

# rot_crash_suite "P1+P2+..." ...: adoption, then one rotation per argument,
# killed at each of its points and resumed.
rot_crash_suite() {
	local p
	rot_setup
	rot_write_checker
	rot_rotate adopt || { it_fail "adoption: $(cat "$ROT_ERR")"; return 1; }
	it_pass "adoption (talos-access-g1)"
	for p in "$@"; do
		# shellcheck disable=SC2086 # "a+b": one argument per point, on purpose
		rot_crash ${p//+/ }
	done
	rot_check_oracle
	rot_save_key "$TC" last
	rot_leak_scan
}

[[ ${ROTATE_LIB_ONLY:-0} == 1 ]] && return 0

# ---------------------------------------------------------------- test

rot_setup
cp "$TC" "$WORK/machine.tc"          # the original: signed by the machine CA
rot_save_key "$TC" machine

# --- command line
# This project has no kubeconfig: the Kubernetes part says what it needs,
# after the Talos dry run, and the whole dry run fails.
rot_expect 1 kube-no-kubeconfig -f "$NODEFILE" rotate-ca --talos=false --kubernetes=true
grep -q "no kubeconfig: give --kubeconfig FILE" "$ROT_ERR" &&
	it_pass "--kubernetes=true without a kubeconfig: clear error" ||
	it_fail "--kubernetes=true without a kubeconfig: message"
rot_expect 2 kube-flag-alone -f "$NODEFILE" rotate-ca --k8s-endpoint https://127.0.0.1:6443
grep -q "need --kubernetes=true" "$ROT_ERR" &&
	it_pass "--k8s-endpoint without --kubernetes: usage error" ||
	it_fail "--k8s-endpoint without --kubernetes: message"
rot_expect 2 kube-bad-bool -f "$NODEFILE" rotate-ca --kubernetes=maybe
rot_expect 2 bad-bool -f "$NODEFILE" rotate-ca --dry-run=maybe
rot_expect 2 resume-abort rotate-ca --resume --abort
rot_expect 2 resume-nodes rotate-ca --resume --nodes 127.0.0.1
rot_expect 2 nothing -f "$NODEFILE" rotate-ca --talos=false --kubernetes=false
rot_expect 1 no-nodes rotate-ca --talosconfig "$TC"
grep -q "no nodes to rotate" "$ROT_ERR" && it_pass "no nodes: says so" || it_fail "no nodes message"
rot_expect 1 resume-nothing rotate-ca --resume --dry-run=false
rot_expect 0 status-empty rotate status
grep -q "no rotation in progress" "$ROT_OUT" && it_pass "status: nothing in progress" ||
	it_fail "status output"
rot_expect 1 issue-before talos issue-config --role os:admin --out "$WORK/x.tc"
grep -q "no Talos API access CA yet" "$ROT_ERR" && it_pass "issue-config before adoption refused" ||
	it_fail "issue-config message"
[[ ! -e "$WORK/x.tc" ]] && it_pass "nothing written" || it_fail "x.tc written"

# --- dry run of the first adoption changes nothing
rot_snapshot before
rot_expect 0 dry-adopt -f "$NODEFILE" rotate-ca --talos=true --kubernetes=false
rot_snapshot after
cmp -s "$WORK/snap-before" "$WORK/snap-after" && it_pass "dry run (adoption): token, nodes and files unchanged" ||
	{ diff "$WORK/snap-before" "$WORK/snap-after" >&2 || true; it_fail "dry run changed something"; }
for want in "DRY RUN" "first adoption" "talos-access-g1" "Preflight: OK" "signed by: machine CA" \
	prepare trust-new issue verify-new distrust-old prove-revoked retire; do
	grep -q -- "$want" "$ROT_OUT" || it_fail "dry-run plan lacks '$want'"
done
for addr in $(sed -n 's/^# talm: nodes=\["\([^"]*\)".*/\1/p' "$PROJECT"/nodes/*.yaml); do
	grep -q -- "$addr" "$ROT_OUT" || it_fail "dry-run plan lacks node $addr"
done
[[ $(grep -c "controlplane 127" "$ROT_OUT") == 3 && $(grep -c "worker       127" "$ROT_OUT") == 3 ]] &&
	it_pass "plan lists 3 control planes and 3 workers with their roles" || it_fail "plan roles"
# Bare --dry-run and --json
rot_expect 0 dry-json --json -f "$NODEFILE" rotate-ca --dry-run --kubernetes=false
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dry_run"] and d["preflight_ok"] and len(d["nodes"])==6 and d["new_ca"]["name"]=="talos-access-g1", d' "$ROT_OUT" &&
	it_pass "--json dry run parses" || it_fail "--json dry run"
rot_snapshot after2
cmp -s "$WORK/snap-before" "$WORK/snap-after2" && it_pass "second dry run changed nothing either" ||
	it_fail "json dry run changed something"

# --- the first adoption
rot_rotate adopt || { cat "$ROT_OUT" "$ROT_ERR" >&2; it_fail "adoption failed"; }
it_pass "adoption (talos-access-g1) completed"
G1=$(rot_fp talos-access-g1)
rot_check_accepted_exactly "$G1"
rot_check_node_files "$G1"
rot_probe "$TC" ok
rot_probe "$WORK/machine.tc" ok   # a first adoption cannot revoke machine-CA credentials
rot_check_audit "$(rot_last_id)" 0
it_assert_eq "talos-access-g1-key" "$(rot_keys)" "token holds the g1 key"
cp "$TC" "$WORK/g1.tc"
rot_save_key "$TC" g1

# --- talos issue-config
rot_expect 0 issue-reader talos issue-config --role os:reader --out "$WORK/reader.tc"
it_assert_eq "600" "$(stat -c %a "$WORK/reader.tc")" "issued talosconfig is 0600"
rot_probe "$WORK/reader.tc" ok
rot_save_key "$WORK/reader.tc" reader
rot_expect 2 issue-norole talos issue-config --out "$WORK/y.tc"
rot_expect 1 issue-badrole talos issue-config --role os:root --out "$WORK/y.tc"

# --- dry run of a rotation changes nothing
rot_snapshot before3
rot_expect 0 dry-rotate -f "$NODEFILE" rotate-ca --kubernetes=false --dry-run=true
rot_snapshot after3
cmp -s "$WORK/snap-before3" "$WORK/snap-after3" && it_pass "dry run (g1 -> g2): token, nodes and files unchanged" ||
	{ diff "$WORK/snap-before3" "$WORK/snap-after3" >&2 || true; it_fail "dry run changed something"; }
for want in "Current access CA: talos-access-g1" "in the token: yes" "New access CA: talos-access-g2" \
	"revocation probe" "current access CA listed"; do
	grep -q -- "$want" "$ROT_OUT" || it_fail "dry-run plan lacks '$want'"
done

# --- two concurrent runs: the second is refused by the lock.  A slow node
# keeps the first one running.
rot_fault cp1 delay_ms=300
(HSMCA_FAULT= "$HSMCA" -f "$NODEFILE" rotate-ca --kubernetes=false --dry-run=false \
	>"$WORK/outs/first.out" 2>"$WORK/outs/first.err"; echo $? >"$WORK/first.rc") &
FIRST=$!
it_register_pid "$FIRST"
it_wait_file "$HSMCA_HOME/rotate/journal" 30 || it_fail "first rotation did not start"
rot_expect 1 second -f "$NODEFILE" rotate-ca --kubernetes=false --dry-run=false
grep -q "another rotation is running" "$ROT_ERR" && it_pass "second run refused: another rotation is running" ||
	it_fail "second run message: $(cat "$ROT_ERR")"
rot_expect 1 second-resume rotate-ca --resume --dry-run=false
grep -q "another rotation is running (pid" "$ROT_ERR" && it_pass "concurrent --resume refused by the flock" ||
	it_fail "second resume message: $(cat "$ROT_ERR")"
rot_expect 0 status-running rotate status
grep -q "running now: pid" "$ROT_OUT" && it_pass "status shows the running rotation" ||
	it_fail "status while running"
for _ in $(seq 600); do [[ -f "$WORK/first.rc" ]] && break; sleep 0.1; done
wait "$FIRST" 2>/dev/null || true
rot_note_id "$WORK/outs/first.out"
it_assert_eq "0" "$(cat "$WORK/first.rc" 2>/dev/null)" "the first rotation completed"
rot_fault cp1 clear=1
cp "$WORK/outs/first.out" "$WORK/outs/first-copy.out" 2>/dev/null || true
for s in prepare trust-new issue verify-new distrust-old prove-revoked retire; do
	grep -q "\[[1-7]/7 $s\] done" "$WORK/outs/first.out" || it_fail "progress lacks step $s done"
done
[[ $(grep -c "\[6/7 prove-revoked\] [1-6]/6" "$WORK/outs/first.out") == 6 ]] &&
	it_pass "progress shows every node of prove-revoked" || it_fail "prove-revoked progress"

rot_check_end talos-access-g1 talos-access-g2 "$WORK/g1.tc"
rot_probe "$WORK/reader.tc" refused
rot_save_key "$TC" g2
rot_check_oracle
rot_leak_scan
it_summary
