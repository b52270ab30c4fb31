#!/usr/bin/env bash
# Issue 4, "What it must show" item 3, on a software TPM:
# - ed25519 and rsa-4096 (`key generate`, `ca init`) fail with "this TPM does
#   not support ..." and nothing is created: same keys, same token store,
#   same state directory (only the audit log records the refusal);
# - swtpm killed in the middle of `hsmca bench issue`, during a root
#   ceremony, and before a command: each ends with exit 1 (not a signal,
#   not a hang: bounded by `timeout`) and a message that says the TPM
#   stopped answering; no CA directory, no records, no scratch directory
#   and no key are left behind; after the TPM is back, everything works.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
SIM=$HSMCA_TEST_SRCDIR/scripts/tpm-sim.sh
PY=/usr/bin/python3

it_setup
cd "$WORK"
TPM=$WORK/tpm

# tpm_start: a private swtpm + tpm2-abrmd in $TPM, stopped by PID at exit.
# Restarting in the same directory keeps the port, hence the TCTI.
tpm_start() {
	local f
	it_ok bash "$SIM" start --dir "$TPM" >/dev/null
	for f in swtpm dbus abrmd; do
		it_register_pid "$(tr -d ' \n' <"$TPM/$f.pid")"
	done
	set -a
	# shellcheck disable=SC1091 # written by tpm-sim.sh at start
	. "$TPM/env"
	set +a
}
it_defer bash "$SIM" stop --dir "$TPM"
kill_swtpm() {
	local pid i
	pid=$(tr -d ' \n' <"$TPM/swtpm.pid")
	kill -KILL "$pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
json_get() { "$PY" -c 'import json,sys; o=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# The state directory: every name and mode, and the contents of every file
# but the audit log (which records refusals too) and the token store (whose
# bytes change when a key is made and destroyed again: see store_dump).
state_snapshot() {
	(cd "$HSMCA_HOME" && find . -path ./audit.log -prune -o -path ./audit.log.head -prune -o \
		-print0 | LC_ALL=C sort -z | xargs -0 -r stat -c '%n %a')
	(cd "$HSMCA_HOME" && find . -type f ! -name 'audit.log*' ! -path './tpm2-store/*' -print0 |
		LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
# Every row of libtpm2_pkcs11's store, read-only (but sqlite's own counter
# of row ids, which only goes up).
store_dump() {
	"$PY" - "$HSMCA_HOME/tpm2-store/tpm2_pkcs11.sqlite3" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for (t,) in db.execute("select name from sqlite_master where type='table' and "
                      "name != 'sqlite_sequence' order by name"):
    for row in db.execute("select * from %s order by rowid" % t):
        print(t, repr(row))
EOF
}
# ends_cleanly WHAT RC: exit 1, i.e. neither a signal (>= 128), nor the
# timeout (124), nor success.
ends_cleanly() {
	if (($2 == 1)); then
		it_pass "$1: exit 1"
	else
		it_fail "$1: exit $2 (expected 1; 124 = hung until timeout, >= 128 = killed by a signal)"
	fi
}

tpm_start
it_ok "$HSMCA" init --tpm --tcti "$TPM2_PKCS11_TCTI" >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=TPM Root" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
	-subj "/CN=leaf" -out leaf.csr 2>/dev/null

# --- ed25519 / rsa-4096: refused, nothing created ---
keys_before=$(it_ok "$HSMCA" --json key list)
state_before=$(state_snapshot)
store_before=$(store_dump)
store_sum=$(sha256sum <"$HSMCA_HOME/tpm2-store/tpm2_pkcs11.sqlite3")
audit_lines=$(wc -l <"$HSMCA_HOME/audit.log")
for kt in ed25519 rsa-4096; do
	it_expect_fail 1 "this TPM does not support $kt keys" \
		"$HSMCA" key generate --label "k-$kt" --type "$kt"
	it_assert_contains "$(cat "$IT_ERR")" "nothing was created" "key generate $kt: says nothing was created"
	it_expect_fail 1 "this TPM does not support $kt keys" \
		"$HSMCA" ca init "ca-$kt" --key-type "$kt" --subject "CN=Refused $kt"
	[[ ! -e "$HSMCA_HOME/cas/ca-$kt" ]] && it_pass "ca init $kt: no CA directory" ||
		it_fail "ca init $kt left $HSMCA_HOME/cas/ca-$kt"
done
it_expect_fail 1 "this TPM does not support rsa-4096 keys" \
	"$HSMCA" ca init ca-pss4096 --key-type rsa-4096 --rsa-pss --subject "CN=x"
it_assert_eq "$keys_before" "$(it_ok "$HSMCA" --json key list)" "the same keys as before"
it_assert_eq "$state_before" "$(state_snapshot)" "the state directory (audit log aside) is unchanged"
it_assert_eq "$store_before" "$(store_dump)" "libtpm2_pkcs11's store holds the same rows"
it_assert_eq "$store_sum" "$(sha256sum <"$HSMCA_HOME/tpm2-store/tpm2_pkcs11.sqlite3")" \
	"... and was not even written to"
tail -n +"$((audit_lines + 1))" "$HSMCA_HOME/audit.log" >new-audit
it_assert_eq 5 "$(grep -c '"outcome":"failed"' new-audit)" "the audit log records the five refusals"
it_assert_eq 0 "$(grep -vc '"outcome":"failed"' new-audit || true)" "... and nothing else"
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "hash chain intact" "audit log intact after the refusals"

# --- swtpm killed during `hsmca bench issue` ---
mkdir -m 0700 "$WORK/tmp"
keys_before=$(it_ok "$HSMCA" --json key list)
state_before=$(state_snapshot)
store_before=$(store_dump)
rc=0
TMPDIR=$WORK/tmp timeout 120 "$HSMCA" bench issue --count 1000 >bench.out 2>bench.err &
bench=$!
it_register_pid "$bench"
# Kill once issuance has started (certificates are being signed).
for ((i = 0; i < 600; i++)); do
	grep -q "issuing 1000 certificates" bench.err && break
	kill -0 "$bench" 2>/dev/null || break
	sleep 0.1
done
sleep 0.5
grep -q "issuing 1000 certificates" bench.err && it_pass "bench reached issuance before the kill" ||
	it_fail "bench never reached issuance: $(cat bench.err)"
kill_swtpm && it_pass "swtpm killed mid-issuance" || it_fail "swtpm does not die"
wait "$bench" || rc=$?
ends_cleanly "bench issue with swtpm killed" "$rc"
msg=$(grep '^hsmca: ' bench.err | grep -v 'hsmca: bench:' | head -n 1)
it_assert_contains "$msg" "the TPM stopped responding or failed (TCTI $TPM2_PKCS11_TCTI)" \
	"bench: the message says the TPM stopped answering and names the TCTI"
[[ -z "$(ls -A "$WORK/tmp")" ]] && it_pass "bench removed its scratch directory" ||
	it_fail "bench left $(ls -A "$WORK/tmp")"
it_assert_eq "$state_before" "$(state_snapshot)" "bench: state directory (audit log aside) unchanged"
it_assert_eq "$store_before" "$(store_dump)" \
	"bench: the store holds the same rows (its throwaway key is gone although the TPM is)"

# --- between commands: the TPM is gone before the command starts ---
rc=0
timeout 60 "$HSMCA" sign root --csr leaf.csr --profile client --out leaf.pem 2>sign.err || rc=$?
ends_cleanly "sign with no TPM" "$rc"
it_assert_contains "$(cat sign.err)" "no TPM answered through TCTI $TPM2_PKCS11_TCTI" \
	"sign with no TPM: the message says so and names the TCTI"
[[ ! -e leaf.pem ]] && it_pass "sign with no TPM: no certificate" || it_fail "leaf.pem written"
it_assert_eq "$state_before" "$(state_snapshot)" "sign with no TPM: state directory unchanged"

# --- the TPM back: the throwaway bench key is gone, nothing else changed ---
it_ok bash "$SIM" stop --dir "$TPM" >/dev/null
tpm_start
it_assert_eq "$keys_before" "$(it_ok "$HSMCA" --json key list)" \
	"after the restart: the same keys (the bench's throwaway key was destroyed)"
it_assert_eq "$store_before" "$(store_dump)" "after the restart: the store holds the same rows"

# --- swtpm killed during a root ceremony (rsa-3072: key generation takes
# 0.2-2 s on swtpm, so the kill lands in generation or signing) ---
for attempt in 1 2 3; do
	rc=0
	timeout 120 "$HSMCA" ca init "mid-$attempt" --key-type rsa-3072 --subject "CN=Mid $attempt" \
		>mid.out 2>mid.err &
	pid=$!
	it_register_pid "$pid"
	# Kill while swtpm is generating the key: RSA-3072 generation costs swtpm
	# 0.2-2 s of CPU, start-up and login a few ms. So wait until swtpm has
	# used 60 ms of CPU since the ceremony began (a fixed sleep landed in
	# module start-up, login or after generation, depending on the load).
	spid=$(tr -d ' \n' <"$TPM/swtpm.pid")
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$spid/stat")
	for _ in $(seq 1 400); do
		(($(awk '{ print $14 + $15 }' "/proc/$spid/stat") - cpu0 >= 6)) && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	kill_swtpm || it_fail "swtpm does not die"
	wait "$pid" || rc=$?
	if ((rc == 0)); then
		# The ceremony beat the kill: not what this checks; try again.
		it_ok bash "$SIM" stop --dir "$TPM" >/dev/null
		tpm_start
		continue
	fi
	ends_cleanly "ca init with swtpm killed" "$rc"
	# The kill lands in key generation or signing ("stopped responding"), or,
	# on a loaded machine, before the module finished starting (C_Initialize:
	# "no TPM answered"); either way the message must say the TPM failed.
	first=$(grep '^hsmca: ' mid.err | grep -v 'hsmca: note:' | head -n 1)
	if [[ "$first" == *"the TPM stopped responding or failed"* || "$first" == *"no TPM answered"* ]]; then
		it_pass "ca init: the message says the TPM stopped answering"
	else
		it_fail "ca init: the message does not name the TPM: $first"
	fi
	[[ ! -e "$HSMCA_HOME/cas/mid-$attempt" ]] && it_pass "ca init: no CA directory half-written" ||
		it_fail "ca init left $(ls -R "$HSMCA_HOME/cas/mid-$attempt")"
	it_ok bash "$SIM" stop --dir "$TPM" >/dev/null
	tpm_start
	labels=$("$HSMCA" --json key list | json_get '" ".join(k["label"] for k in o)')
	[[ " $labels " != *" mid-$attempt-key "* ]] && it_pass "ca init: no key left in the token" ||
		it_fail "ca init left key mid-$attempt-key in the token ($labels)"
	break
done
((rc != 0)) || it_fail "three ceremonies finished before swtpm could be killed"

# --- everything works again ---
it_ok "$HSMCA" sign root --csr leaf.csr --profile client --out leaf.pem >/dev/null
it_ok openssl verify -CAfile "$HSMCA_HOME/cas/root/ca.pem" leaf.pem >/dev/null
it_ok "$HSMCA" ca init after --key-type ec-p256 --subject "CN=After" >/dev/null
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "hash chain intact" "audit log intact after the kills"
it_summary
