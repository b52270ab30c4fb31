#!/usr/bin/env bash
# Issue 2, "What it must show" item 4: bad input is refused with the right
# exit code (1 operation failed, 2 usage), a message that says what is wrong,
# and no state change — neither in the state directory (config, CAs, audit
# log, PIN files, key objects of the embedded token) nor among the token's
# objects as pkcs11-tool lists them.  A refused key event that hsmca audits
# (a second `key generate` of an existing label) adds exactly one
# outcome "failed" line and changes nothing else.
# Also: the interactive PIN prompt (echo off, the PIN never in the transcript)
# and the refusal to prompt without a terminal.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
it_ok "$HSMCA" init --softhsm >/dev/null
export SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf
PIN=$(cat "$HSMCA_HOME/pins/user.pin")
it_ok "$HSMCA" key generate --label bi-a --type ec-p256 >/dev/null
it_ok "$HSMCA" key generate --label bi-b --type ed25519 >/dev/null
it_ok "$HSMCA" ca init bi-ca --key-type ec-p256 --subject "CN=Bad Input Root" >/dev/null
WRONG=$(it_pin_file wrong.pin "not-the-pin-0000")

# The state: every file of the state directory except SoftHSM2's
# token.object (it records failed-login flags, which is the token's own
# business), then the token's objects as an independent tool sees them.
state() {
	it_snapshot_dir "$HSMCA_HOME" | grep -v '/tokens/[^/]*/token\.object$'
	echo "--- token objects"
	it_snapshot_token "$PIN" hsmca | grep -v '^Using slot'
}
BASE=$(state)

# refused CODE NEEDLE CMD...: exit CODE, NEEDLE on stderr, state unchanged.
refused() {
	local code=$1 needle=$2
	shift 2
	it_expect_fail "$code" "$needle" "$@"
	it_assert_eq "$BASE" "$(state)" "  ... and nothing changed: $*"
}
# refused_any NEEDLE CMD...: like refused, exit 1 or 2.
refused_any() {
	local needle=$1 rc=0
	shift
	"$@" >"$IT_OUT" 2>"$IT_ERR" || rc=$?
	if ((rc == 1 || rc == 2)) && grep -qF -- "$needle" "$IT_ERR"; then
		it_pass "$* fails with $rc: $needle"
	else
		it_fail "$* exited $rc (expected 1 or 2) with stderr containing '$needle'?" || true
		cat "$IT_ERR" >&2
		return 1
	fi
	it_assert_eq "$BASE" "$(state)" "  ... and nothing changed: $*"
}
# refused_audited CODE NEEDLE CMD...: like refused, but the command is a key
# event hsmca audits: exactly one line with outcome "failed" is added to the
# audit log and nothing else changes.  Takes the new state as the baseline.
refused_audited() {
	local code=$1 needle=$2 lines
	shift 2
	lines=$(wc -l <"$HSMCA_HOME/audit.log")
	it_expect_fail "$code" "$needle" "$@"
	it_assert_eq $((lines + 1)) "$(wc -l <"$HSMCA_HOME/audit.log")" "  ... one audit line added: $*"
	it_assert_contains "$(tail -1 "$HSMCA_HOME/audit.log")" '"outcome":"failed"' "  ... audited as failed"
	it_assert_eq "$(printf '%s\n' "$BASE" | grep -v ' \./audit\.log')" \
		"$(state | grep -v ' \./audit\.log')" "  ... and nothing else changed: $*"
	it_ok "$HSMCA" audit verify >/dev/null
	BASE=$(state)
}
no_pin_in_output() {
	if grep -qF -- "$1" "$IT_OUT" "$IT_ERR"; then
		it_fail "the PIN '$1' appears in the output of the refused command"
	else
		it_pass "the PIN does not appear in the output"
	fi
}

# --- wrong PIN ---
refused 1 "CKR_PIN_INCORRECT" "$HSMCA" --pin-source "file:$WRONG" key list
it_assert_contains "$(cat "$IT_ERR")" "refused the PIN" "wrong PIN: the message says the PIN was refused"
refused 1 "CKR_PIN_INCORRECT" "$HSMCA" --pin-source "file:$WRONG" key generate --label bi-new --type ec-p256
export BI_WRONG_PIN=also-wrong-1111
refused 1 "CKR_PIN_INCORRECT" "$HSMCA" --pin-source env:BI_WRONG_PIN ca init bi-new --key-type ec-p256 --subject CN=X
refused 1 "CKR_PIN_INCORRECT" "$HSMCA" --token "pkcs11:token=hsmca?pin-source=file:$WRONG" key list
# The right PIN still works (nothing got locked).
it_ok "$HSMCA" key list >/dev/null
refused 1 "environment variable BI_UNSET_VAR is not set" "$HSMCA" --pin-source env:BI_UNSET_VAR key list
refused 1 "cannot open $WORK/no-such.pin" "$HSMCA" --pin-source "file:$WORK/no-such.pin" key list
refused 1 "unknown kind" "$HSMCA" --pin-source "bogus:x" key list

# --- module ---
refused 1 "cannot load PKCS#11 module /nonexistent/lib.so" "$HSMCA" --module /nonexistent/lib.so key list
refused 1 "C_GetFunctionList" "$HSMCA" --module "$(readlink -f /lib/x86_64-linux-gnu/libz.so.1)" key list
refused 1 "no PKCS#11 module named 'no-such-module' is registered with p11-kit" \
	"$HSMCA" --module no-such-module key list
# A registered name loads that module (control for the refusal above).
mkdir -p "$WORK/p11kit"
printf 'module: %s\n' "$IT_PKCS11_MODULE" >"$WORK/p11kit/devtoken.module"
out=$(HSMCA_P11KIT_MODULE_DIRS=$WORK/p11kit it_ok "$HSMCA" --module devtoken key list)
it_assert_contains "$out" "bi-a" "a p11-kit module name registered in HSMCA_P11KIT_MODULE_DIRS loads"
refused 1 "no PKCS#11 module named 'other'" \
	env HSMCA_P11KIT_MODULE_DIRS="$WORK/p11kit" "$HSMCA" --module other key list

# --- URIs ---
refused 1 "no private key matches pkcs11:object=nope on token 'hsmca'" "$HSMCA" key show 'pkcs11:object=nope'
refused 1 "no private key matches label 'nope'" "$HSMCA" key show nope
refused 1 "no initialised token matches 'pkcs11:token=nope'" "$HSMCA" --token 'pkcs11:token=nope' key list
refused 1 "private keys match pkcs11:type=private" "$HSMCA" key show 'pkcs11:type=private'
err=$(cat "$IT_ERR")
for l in bi-a bi-b bi-ca-key; do
	it_assert_contains "$err" "object=$l;id=" "several matches: candidate $l is listed"
done
refused 1 "unknown path attribute 'tokn'" "$HSMCA" key show 'pkcs11:tokn=x'
refused 1 "unknown path attribute 'tokn'" "$HSMCA" --token 'pkcs11:tokn=hsmca' key list
refused 1 "unknown query attribute 'pin-sauce'" "$HSMCA" key show 'pkcs11:object=bi-a?pin-sauce=x'
refused 1 "must name a private key" "$HSMCA" key show 'pkcs11:object=bi-a;type=public'
refused 1 "names another token" "$HSMCA" key show 'pkcs11:token=other;object=bi-a'
# pin-value would put a PIN on the command line.
it_expect_fail 2 "pin-value puts the PIN on the command line" "$HSMCA" key show "pkcs11:object=bi-a?pin-value=9876-in-uri"
no_pin_in_output 9876-in-uri
it_expect_fail 2 "pin-value puts the PIN on the command line" "$HSMCA" --token "pkcs11:token=hsmca?pin-value=9876-in-uri" key list
no_pin_in_output 9876-in-uri

# --- PIN given on the command line: refused before anything runs ---
for args in "--pin 1234 key list" "key list --pin 1234" "--pin=1234 key list" "key list --so-pin=1" \
	"token init --label x --so-pin 1" "--user-pin=1234 key list" "init --softhsm --so-pin 1234" \
	"key generate --label x --type ec-p256 --pin-value 1234"; do
	# shellcheck disable=SC2086 # split on purpose
	refused 2 "PINs are never taken from the command line" "$HSMCA" $args
	no_pin_in_output 1234
done

# --- keys ---
refused_audited 1 "a key labelled 'bi-a' already exists" "$HSMCA" key generate --label bi-a --type ec-p256
refused 2 "unknown key type 'rsa-1024'" "$HSMCA" key generate --label bi-new --type rsa-1024
refused 2 "unknown key type 'dsa'" "$HSMCA" ca init bi-new --key-type dsa --subject CN=X
refused 2 "--label and --type are required" "$HSMCA" key generate --label bi-new
refused 2 "add --yes to confirm" "$HSMCA" key destroy bi-a
refused 1 "refusing to destroy a CA key" "$HSMCA" key destroy bi-ca-key --yes
refused 1 "refusing to destroy a CA key" "$HSMCA" key destroy 'pkcs11:object=bi-ca-key;type=private' --yes
id=$("$HSMCA" --json key show bi-ca-key 2>/dev/null | /usr/bin/python3 -c \
	'import json,sys; h=json.load(sys.stdin)["id"]; print("".join("%"+h[i:i+2] for i in range(0,len(h),2)))')
refused 1 "refusing to destroy a CA key" "$HSMCA" key destroy "pkcs11:id=$id" --yes
refused 1 "no private key matches label 'nope'" "$HSMCA" key destroy nope --yes

# --- CAs ---
refused 1 "a CA named 'bi-ca' already exists" "$HSMCA" ca init bi-ca --key-type ec-p256 --subject CN=Again
refused_audited 1 "a key labelled 'bi-a' already exists" \
	"$HSMCA" ca init bi-new --key-type ec-p256 --subject CN=X --label bi-a
[[ ! -e "$HSMCA_HOME/cas/bi-new" ]] && it_pass "the refused ceremony made no CA directory" ||
	it_fail "the refused ceremony left cas/bi-new"
refused 2 "NAME is required" "$HSMCA" ca init --key-type ec-p256 --subject CN=X
refused 2 "CA name 'Bad_Name' is invalid" "$HSMCA" ca init Bad_Name --key-type ec-p256 --subject CN=X
refused 2 "--path-len must be an integer" "$HSMCA" ca init bi-new --key-type ec-p256 --subject CN=X --path-len -1
refused 2 "lacks a unit" "$HSMCA" ca init bi-new --key-type ec-p256 --subject CN=X --validity 10
refused 1 "no CA named 'nope'" "$HSMCA" ca show nope

# --- malformed ceremony files: file:line, nothing done ---
mkdir -p "$WORK/cer"
cat >"$WORK/cer/unknown.yaml" <<'EOF'
version: 1
ca:
  name: bi-new
  subjekt: "CN=X"
key:
  type: ec-p256
EOF
cat >"$WORK/cer/dup.yaml" <<'EOF'
version: 1
ca:
  name: bi-new
  subject: "CN=X"
key:
  type: ec-p256
key:
  type: ec-p384
EOF
cat >"$WORK/cer/date.yaml" <<'EOF'
version: 1
ca:
  name: bi-new
  subject: "CN=X"
key:
  type: ec-p256
validity:
  not_after: 2036-02-30
EOF
cat >"$WORK/cer/syntax.yaml" <<'EOF'
version: 1
ca:
  name: bi-new
  subject: "CN=X
key:
  type: ec-p256
EOF
cat >"$WORK/cer/type.yaml" <<'EOF'
version: 1
ca:
  name: bi-new
  subject: "CN=X"
key:
  type: ec-p256
extensions:
  path_len: "1"
EOF
cat >"$WORK/cer/keytype.yaml" <<'EOF'
version: 1
ca:
  name: bi-new
  subject: "CN=X"
key:
  type: ec-p521
EOF
refused 1 "unknown.yaml:4: unknown key 'subjekt' in ca" "$HSMCA" ca init --config "$WORK/cer/unknown.yaml"
refused 1 "dup.yaml:7: duplicate key 'key' (first defined at line 5)" "$HSMCA" ca init --config "$WORK/cer/dup.yaml"
refused 1 "date.yaml:8: validity.not_after: '2036-02-30' is not a valid date" \
	"$HSMCA" ca init --config "$WORK/cer/date.yaml"
refused 1 "syntax.yaml:" "$HSMCA" ca init --config "$WORK/cer/syntax.yaml"
refused 1 "type.yaml:8:" "$HSMCA" ca init --config "$WORK/cer/type.yaml"
refused 1 "keytype.yaml:6:" "$HSMCA" ca init --config "$WORK/cer/keytype.yaml"
refused 1 "$WORK/cer/missing.yaml" "$HSMCA" ca init --config "$WORK/cer/missing.yaml"

# --- init ---
refused 1 "already an hsmca state directory" "$HSMCA" init --softhsm
mkdir -p "$WORK/notempty"
echo keep >"$WORK/notempty/file"
it_expect_fail 1 "is not empty" "$HSMCA" --home "$WORK/notempty" init --softhsm
it_assert_eq "file" "$(ls "$WORK/notempty")" "init into a non-empty directory leaves it alone"
it_expect_fail 1 "cannot load PKCS#11 module /nonexistent/lib.so" \
	"$HSMCA" --home "$WORK/fresh" --module /nonexistent/lib.so init
[[ ! -e "$WORK/fresh" ]] && it_pass "a failed init removes the directory it created" ||
	it_fail "a failed init left $WORK/fresh behind"
it_expect_fail 1 "not an hsmca state directory" "$HSMCA" --home "$WORK/nowhere" key list
[[ ! -e "$WORK/nowhere" ]] && it_pass "a command on a missing state directory creates nothing" ||
	it_fail "$WORK/nowhere was created"

# --- usage errors: exit 2 ---
refused 2 "usage: hsmca" "$HSMCA"
refused 2 "unknown command 'frob'" "$HSMCA" frob
refused 2 "unknown global option '--frob'" "$HSMCA" --frob key list
refused 2 "option --home needs a value" "$HSMCA" --home
refused 2 "usage: hsmca [global options] key" "$HSMCA" key
refused 2 "unknown action 'frob'" "$HSMCA" key frob
refused 2 "unknown action 'frob'" "$HSMCA" ca frob
refused 2 "unknown action 'frob'" "$HSMCA" token frob
refused 2 "give exactly one LABEL or pkcs11: URI" "$HSMCA" key show bi-a bi-b
refused 2 "unexpected argument" "$HSMCA" key list extra
refused 2 "unexpected argument" "$HSMCA" audit verify extra
refused 2 "choose --softhsm, --tpm" "$HSMCA" --home "$WORK/fresh2" init
refused 2 "--softhsm and --tpm exclude each other" "$HSMCA" --home "$WORK/fresh2" init --softhsm --tpm

# --- the interactive prompt ---
# A state directory whose user PIN is not stored anywhere: chosen with
# --pin-source at init, so commands must prompt for it.
P2=$WORK/prompt-home
export BI_NEW_USER_PIN=prompt-pin-7731
it_ok "$HSMCA" --home "$P2" --pin-source env:BI_NEW_USER_PIN init --softhsm >/dev/null
unset BI_NEW_USER_PIN
[[ ! -e "$P2/pins/user.pin" ]] && it_pass "init with --pin-source stores no user PIN" ||
	it_fail "init with --pin-source wrote $P2/pins/user.pin"
it_assert_eq "" "$(grep pin_source "$P2/hsmca.yaml" || true)" "hsmca.yaml names no pin_source"
if grep -rqF prompt-pin-7731 "$P2" --exclude-dir=tokens; then
	it_fail "the user PIN is stored in $P2"
else
	it_pass "the user PIN is nowhere in the state directory"
fi

# Without a terminal there is no prompt: refused with a hint.
it_expect_fail 1 "standard input is not a terminal" "$HSMCA" --home "$P2" key list </dev/null

# pty_run PIN CMD...: run CMD on a pseudo-terminal, type PIN at the
# "PIN:" prompt; prints the transcript then "EXIT <code>".  Bounded: 60 s.
pty_run() {
	"$IT_PYTHON" - "$@" <<'EOF'
import os, pty, select, sys, time
pin, argv = sys.argv[1].encode(), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, sent, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    if not sent and b"PIN: " in out:
        time.sleep(0.3)  # let the prompt switch echo off (it does so right after writing)
        os.write(fd, pin + b"\n")
        sent = True
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("\nEXIT %d" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)))
EOF
}
t=$(pty_run prompt-pin-7731 "$HSMCA" --home "$P2" key generate --label typed --type ec-p256)
it_assert_contains "$t" "User PIN: " "the prompt asks for the user PIN"
it_assert_contains "$t" "EXIT 0" "the PIN typed at the prompt logs in"
it_assert_contains "$t" "key typed" "the key was generated after the prompt"
[[ "$t" != *prompt-pin-7731* ]] && it_pass "the typed PIN is not echoed" ||
	it_fail "the typed PIN appears in the terminal transcript: $t"
t=$(pty_run wrong-typed-9999 "$HSMCA" --home "$P2" key list)
it_assert_contains "$t" "CKR_PIN_INCORRECT" "a wrong PIN at the prompt is named"
it_assert_contains "$t" "EXIT 1" "a wrong PIN at the prompt exits 1"
[[ "$t" != *wrong-typed-9999* ]] && it_pass "the wrong PIN is not echoed either" ||
	it_fail "the wrong PIN appears in the terminal transcript"
# An empty line at the prompt is not a PIN.
t=$(pty_run "" "$HSMCA" --home "$P2" key list)
it_assert_contains "$t" "the PIN is empty" "an empty PIN is refused before the token sees it"
it_assert_contains "$t" "EXIT 1" "an empty PIN exits 1"

# The audit log of the first state directory is intact after all of this.
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "hash chain intact" "audit log intact"
it_summary
