#!/usr/bin/env bash
# Issue 2, "What it must show" item 5, systematically: `hsmca audit verify`
# passes on an untouched log, and exits 1 naming the right line after
#   - one byte is changed, in every line: inside the value of every field
#     (seq, time, actor, event, object, outcome, detail, prev), in a field
#     name, in the JSON structure and the newline; the replacement keeps the
#     byte's class (hex digit for hex digit, digit for digit, letter for
#     letter) so most edits still parse as valid JSON and only the hash
#     chain can catch them;
#   - any one line is deleted (the last one included);
#   - any two adjacent lines are swapped, and two distant ones;
#   - a line is duplicated (replayed);
#   - one byte of the head file is changed, or the head is deleted.
# tests/integration/audit_cli.sh covers the CLI round trip and messages in
# detail; this test is the sweep.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
LOG=$HSMCA_HOME/audit.log
HEAD=$HSMCA_HOME/audit.log.head

# A log with several kinds of events: init, generate, a failed generate, a
# ceremony (generate + sign), destroy.
it_ok "$HSMCA" init --softhsm >/dev/null
for i in 1 2 3; do
	it_ok "$HSMCA" key generate --label ac-$i --type ec-p256 >/dev/null
done
it_expect_fail 1 "ac-1" "$HSMCA" key generate --label ac-1 --type ec-p256 >/dev/null
it_ok "$HSMCA" ca init ac-root --key-type ed25519 --subject "CN=Audit Chain Root" >/dev/null
it_ok "$HSMCA" key destroy ac-2 --yes >/dev/null
n=$(wc -l <"$LOG")
((n >= 8)) && it_pass "the log has $n lines" || it_fail "the log has only $n lines"
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "$n lines, hash chain intact" "the untouched log verifies"
cp "$LOG" "$WORK/good.log"
cp "$HEAD" "$WORK/good.head"

# Each case: "PASS|what" or "FAIL|what|why" on stdout, then the shell records it.
sweep() {
	"$IT_PYTHON" - "$HSMCA" "$LOG" "$HEAD" "$WORK/good.log" "$WORK/good.head" <<'EOF'
import os, string, subprocess, sys

hsmca, log, head, good_log, good_head = sys.argv[1:6]
good = open(good_log, "rb").read()
good_h = open(good_head, "rb").read()
lines = good.split(b"\n")[:-1]
n = len(lines)
starts = []
o = 0
for l in lines:
    starts.append(o)
    o += len(l) + 1

def verify(data, headdata=good_h):
    with open(log, "wb") as f:
        f.write(data)
    if headdata is None:
        if os.path.exists(head):
            os.unlink(head)
    else:
        with open(head, "wb") as f:
            f.write(headdata)
    r = subprocess.run([hsmca, "audit", "verify"], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr.strip()

def names(msg, k):
    """The message names line k: 'line k: ...' or 'line k+1: prev does not match the hash of line k'."""
    return ("line %d:" % k) in msg or ("line %d: prev does not match the hash of line %d" % (k + 1, k)) in msg

def other(c):
    ch = chr(c)
    if ch in "0123456789abcdef":
        return ord("0123456789abcdef"[("0123456789abcdef".index(ch) + 1) % 16])
    if ch in string.digits:
        return ord(str((int(ch) + 1) % 10))
    if ch in string.ascii_letters:
        return ord("a" if ch != "a" else "b")
    return ord("x")

def report(ok, what, why=""):
    print(("PASS|%s" % what) if ok else ("FAIL|%s|%s" % (what, why)))

FIELDS = ("seq", "time", "actor", "event", "object", "outcome", "detail", "prev")

def positions_of(line):
    """Byte offsets to change in one line: the middle of every field's value,
    the first letter of two field names, the braces and the newline."""
    pos = {0, len(line) - 1, len(line)}
    keys = []
    for f in FIELDS:
        i = line.find(b'"%s":' % f.encode())
        if i >= 0:
            keys.append((i, f))
        elif f != "detail":   # the only optional field
            print("FAIL|a line lacks field %s|%r" % (f, line[:80]))
    keys.sort()
    for j, (i, f) in enumerate(keys):
        vstart = i + len(f) + 3
        vend = keys[j + 1][0] - 1 if j + 1 < len(keys) else len(line) - 1
        pos.add(vstart + (vend - vstart) // 2)
        if f in ("seq", "prev"):
            pos.add(i + 1)
    return sorted(pos)

# --- one byte changed ---
for k in range(1, n + 1):
    positions = positions_of(lines[k - 1])
    bad = []
    for pos in positions:
        d = bytearray(good)
        i = starts[k - 1] + pos
        d[i] = other(d[i])
        rc, msg = verify(bytes(d))
        if rc != 1 or not names(msg, k):
            bad.append("byte %d of line %d -> rc %d: %s" % (pos, k, rc, msg))
    report(not bad, "line %d: each of %d one-byte changes exits 1 and names line %d" % (k, len(positions), k),
           "; ".join(bad[:3]))

# --- one line deleted ---
for k in range(1, n + 1):
    rest = lines[:k - 1] + lines[k:]
    rc, msg = verify(b"".join(l + b"\n" for l in rest))
    if k < n:
        want = "line %d: seq is %d, expected %d" % (k, k + 1, k)
    else:
        want = "log ends at line %d but the head records line %d" % (n - 1, n)
    report(rc == 1 and want in msg, "line %d deleted: exit 1, '%s'" % (k, want), "rc %d: %s" % (rc, msg))

# --- two lines swapped ---
pairs = [(k, k + 1) for k in range(1, n)] + [(2, n - 1), (1, n)]
for a, b in pairs:
    sw = list(lines)
    sw[a - 1], sw[b - 1] = sw[b - 1], sw[a - 1]
    rc, msg = verify(b"".join(l + b"\n" for l in sw))
    want = "line %d: seq is %d, expected %d" % (a, b, a)
    report(rc == 1 and want in msg, "lines %d and %d swapped: exit 1, '%s'" % (a, b, want), "rc %d: %s" % (rc, msg))

# --- a line replayed right after itself ---
for k in (1, n // 2, n):
    dup = lines[:k] + [lines[k - 1]] + lines[k:]
    rc, msg = verify(b"".join(l + b"\n" for l in dup))
    want = "line %d: seq is %d, expected %d" % (k + 1, k, k + 1)
    report(rc == 1 and want in msg, "line %d duplicated: exit 1, '%s'" % (k, want), "rc %d: %s" % (rc, msg))

# --- the head file: {"seq":N,"hash":"<64 hex>"} ---
# Bytes of its JSON (the trailing newline carries no information: what
# follows the JSON is not part of the record).
hb = good_h.rstrip(b"\n")
hpos = sorted({0, 2, hb.find(b":") + 1, hb.find(b",") - 1, len(hb) - 66, len(hb) - 40, len(hb) - 3, len(hb) - 1})
bad = []
for pos in hpos:
    h = bytearray(good_h)
    h[pos] = other(h[pos])
    rc, msg = verify(good, bytes(h))
    if rc != 1 or "head" not in msg:
        bad.append("byte %d of the head -> rc %d: %s" % (pos, rc, msg))
report(not bad, "each of %d one-byte changes of the head file exits 1 and names the head" % len(hpos),
       "; ".join(bad[:3]))
rc, msg = verify(good, None)
report(rc == 1 and "head file" in msg and "missing" in msg, "head file deleted: exit 1, 'missing'",
       "rc %d: %s" % (rc, msg))

# --- restored ---
rc, msg = verify(good)
report(rc == 0, "the restored log verifies again", "rc %d: %s" % (rc, msg))
EOF
}

results=$(sweep)
while IFS='|' read -r verdict what why; do
	case $verdict in
	PASS) it_pass "$what" ;;
	FAIL) it_fail "$what: $why" || true ;;
	*) it_fail "sweep printed an unexpected line: $verdict|$what|$why" || true ;;
	esac
done <<<"$results"
[[ -n "$results" ]] || it_fail "the sweep produced no results"

# After the sweep the files are as written by hsmca, and new events chain on.
it_assert_eq "$(sha256sum <"$WORK/good.log")" "$(sha256sum <"$LOG")" "audit.log restored byte for byte"
it_ok "$HSMCA" key destroy ac-3 --yes >/dev/null
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "$((n + 1)) lines, hash chain intact" "an event after the sweep chains on"
it_summary
