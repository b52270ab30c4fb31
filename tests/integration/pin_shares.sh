#!/usr/bin/env bash
# M-of-N custody of the PINs: `init --pin-shares 3/5` writes five share
# files (0600, naming index and token) and no PIN file; any three open the
# token (several combinations, from a directory and typed at a terminal with
# echo off) and the audit log names the indices used; two shares, a
# corrupted share, a share altered with its check recomputed, shares of
# another token and a share file readable by others are all refused before
# the token sees a PIN: the token's "user PIN count low" flag, read back with
# pkcs11-tool, stays clear (and a single wrong PIN shows that it would not).
# `pin split` re-splits an existing token's PIN.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
S=$WORK/shares
flags() {
	SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf pkcs11-tool --module "$IT_PKCS11_MODULE" \
		--list-token-slots 2>/dev/null | grep -A3 'token label *: hsmca$' | grep 'token flags'
}
# pick DIR I...: a directory holding only those shares (0700, files 0600).
pick() {
	local d=$WORK/$1 i
	shift
	rm -rf "$d"
	mkdir -m 0700 "$d"
	for i in "$@"; do cp -p "$S/share-$i-of-5.txt" "$d/"; done
	printf '%s\n' "$d"
}

it_expect_fail 2 "go together" "$HSMCA" init --softhsm --pin-shares 3/5
it_expect_fail 2 "need 2 <= M <= N" "$HSMCA" init --softhsm --pin-shares 6/5 --shares-out "$S"
out=$(it_ok "$HSMCA" init --softhsm --pin-shares 3/5 --shares-out "$S")
it_assert_contains "$out" "3 of 5 needed" "init reports the 3-of-5 split"
[[ ! -e "$HSMCA_HOME/pins/user.pin" && ! -e "$HSMCA_HOME/pins/so.pin" ]] &&
	it_pass "no PIN file is kept when the PINs are split" || it_fail "a PIN file was written"
it_assert_eq 5 "$(find "$S" -name 'share-*-of-5.txt' | wc -l)" "five share files"
modes=$(stat -c %a "$S"/share-*-of-5.txt | sort -u)
it_assert_eq 600 "$modes" "share files are mode 0600"
serial=$(SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf pkcs11-tool --module "$IT_PKCS11_MODULE" \
	--list-token-slots 2>/dev/null | grep -A8 'token label *: hsmca$' | sed -n 's/.*serial num *: //p')
f2=$(cat "$S/share-2-of-5.txt")
it_assert_contains "$f2" "PIN share 2 of 5" "a share file names its index"
it_assert_contains "$f2" "token hsmca, serial $serial" "a share file names the token"
it_assert_contains "$f2" "hsmca-share-v1:user:$serial:" "it holds the user PIN share"
it_assert_contains "$f2" "hsmca-share-v1:so:$serial:" "and the SO PIN share"
flags_before=$(flags)
[[ "$flags_before" != *"count low"* ]] && it_pass "fresh token: PIN count not low" ||
	it_fail "fresh token already low: $flags_before"

# --- any three work ---
for combo in "1 2 3" "1 3 5" "2 4 5" "3 4 5" "1 2 3 4 5"; do
	d=$(pick ok $combo)
	it_ok "$HSMCA" --pin-source "shares:$d" key list >/dev/null
	want=$(printf '%s' "$combo" | tr ' ' ',')
	it_assert_contains "$(grep '"event":"pin-shares"' "$HSMCA_HOME/audit.log" | tail -1)" \
		"\"shares\":\"$want\"" "shares $want: the audit log names the indices used"
done
# Typed at the terminal, echo off.
pty_shares() { # SHARE-LINES-FILE CMD...
	"$IT_PYTHON" - "$@" <<'EOF'
import os, pty, select, sys
lines, argv = open(sys.argv[1], "rb").read().splitlines(), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, seen = b"", 0
while True:
    r, _, _ = select.select([fd], [], [], 60)
    if not r:
        os.kill(pid, 9)
        break
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
    # Echo is off before each prompt is written, so answering at once is safe.
    while out.count(b"empty line to stop): ") > seen:
        os.write(fd, (lines[seen] if seen < len(lines) else b"") + b"\n")
        seen += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("\nEXIT %d" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128))
EOF
}
for i in 2 4 5; do grep '^hsmca-share-v1:user:' "$S/share-$i-of-5.txt"; done >typed.txt
t=$(pty_shares typed.txt "$HSMCA" --pin-source shares:tty key list)
it_assert_contains "$t" "EXIT 0" "shares 2, 4, 5 typed at the terminal open the token"
[[ "$t" != *"$(head -c 40 typed.txt | tail -c 20)"* ]] && it_pass "typed shares are not echoed" ||
	it_fail "a typed share appears in the terminal transcript"
head -2 typed.txt >typed2.txt
t=$(pty_shares typed2.txt "$HSMCA" --pin-source shares:tty key list)
it_assert_contains "$t" "only 2 of the 3 shares needed" "two typed shares and an empty line: refused"

# --- refusals, none reaching the token ---
d=$(pick two 1 4)
it_expect_fail 1 "only 2 of the 3 shares needed were given (shares 1,4); nothing was sent to the token" \
	"$HSMCA" --pin-source "shares:$d" key list
d=$(pick corrupt 1 2 3)
# One hex digit of the share changed, its check left as it was (a bad copy).
"$IT_PYTHON" - "$d/share-2-of-5.txt" <<'EOF'
import sys
path, out = sys.argv[1], []
for line in open(path).read().splitlines():
    if line.startswith("hsmca-share-v1:user:"):
        body, chk = line.rsplit(":", 1)
        head, share = body.rsplit(":", 1)
        share = share[:10] + ("1" if share[10] != "1" else "2") + share[11:]
        line = head + ":" + share + ":" + chk
    out.append(line)
open(path, "w").write("\n".join(out) + "\n")
EOF
it_expect_fail 1 "share-2-of-5.txt: share is corrupted (its check value does not match)" \
	"$HSMCA" --pin-source "shares:$d" key list
# Altered on purpose, with its check recomputed: caught by the tag inside the secret.
d=$(pick forged 1 2 3)
"$IT_PYTHON" - "$d/share-3-of-5.txt" <<'EOF'
import hashlib, sys
path = sys.argv[1]
out = []
for line in open(path).read().splitlines():
    if line.startswith("hsmca-share-v1:user:"):
        body = line.rsplit(":", 1)[0]
        head, share = body.rsplit(":", 1)
        b = bytearray(bytes.fromhex(share))
        b[0] ^= 0x01
        body = head + ":" + b.hex()
        line = body + ":" + hashlib.sha256(body.encode()).hexdigest()[:16]
    out.append(line)
open(path, "w").write("\n".join(out) + "\n")
EOF
it_expect_fail 1 "the shares do not reconstruct the PIN" "$HSMCA" --pin-source "shares:$d" key list
d=$(pick loose 1 2 3)
chmod 0644 "$d/share-1-of-5.txt"
it_expect_fail 1 "must be owned by you and mode 0600" "$HSMCA" --pin-source "shares:$d" key list
# Shares of another token (a second state directory, split 2-of-3).
it_ok "$HSMCA" --home "$WORK/other" init --softhsm --pin-shares 2/3 --shares-out "$WORK/oshares" >/dev/null
it_expect_fail 1 "nothing was sent to the token" "$HSMCA" --pin-source "shares:$WORK/oshares" key list
it_assert_contains "$(cat "$IT_ERR")" "the shares are for token serial" "the refusal names the token mismatch"
it_assert_eq "$flags_before" "$(flags)" "token flags unchanged by every refusal (no 'user PIN count low')"
grep -q '"event":"pin-shares".*"outcome":"failed"' "$HSMCA_HOME/audit.log" &&
	it_pass "refused reconstructions are audit-logged as failed" || it_fail "no failed pin-shares line"

# --- pin split on the existing token: a new 2-of-3 split of the same PIN ---
d=$(pick ok 1 2 3)
out=$(it_ok "$HSMCA" --pin-source "shares:$d" pin split --shares 2/3 --out "$WORK/resplit")
it_assert_contains "$out" "3 shares (any 2" "pin split reports the new split"
d=$(mktemp -d "$WORK/rs.XXXX")
cp -p "$WORK/resplit/share-1-of-3.txt" "$WORK/resplit/share-3-of-3.txt" "$d/"
it_ok "$HSMCA" --pin-source "shares:$d" key list >/dev/null
# Mixing shares of the two splits is refused (different split identifiers).
cp -p "$S/share-4-of-5.txt" "$d/"
it_expect_fail 1 "belong to different splits" "$HSMCA" --pin-source "shares:$d" key list
it_ok "$HSMCA" audit verify >/dev/null

# The probe works: one wrong PIN does set the flag.
WRONG=$(it_pin_file wrong.pin "wrong-pin-0000")
it_expect_fail 1 "CKR_PIN_INCORRECT" "$HSMCA" --pin-source "file:$WRONG" key list
[[ "$(flags)" == *"count low"* ]] && it_pass "control: a wrong PIN sets 'user PIN count low'" ||
	it_fail "control: the flag did not change after a wrong PIN: $(flags)"
it_summary
