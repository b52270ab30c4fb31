#!/usr/bin/env bash
# scripts/tpm-sim.sh: start/stop twice, status, no leftover processes,
# concurrent instances on different ports, and tokens kept across a restart.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
SIM=$HSMCA_TEST_SRCDIR/scripts/tpm-sim.sh
TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so

it_setup

pids_of() { # dir -> the PIDs in its pid files (swtpm writes no newline)
	local f
	for f in swtpm dbus abrmd; do
		[[ -s "$1/$f.pid" ]] && printf '%s ' "$(tr -d ' \n' <"$1/$f.pid")"
	done
	return 0
}

alive() { # pid: running and not a zombie
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ "$state" != Z ]]
}

start_sim() { # dir
	it_defer bash "$SIM" stop --dir "$1"
	it_ok bash "$SIM" start --dir "$1" >/dev/null
	local pids
	pids=$(pids_of "$1")
	# shellcheck disable=SC2086
	it_register_pid $pids
	it_assert_eq 3 "$(wc -w <<<"$pids" | tr -d ' ')" "three PID files in $1"
}

stop_sim_and_check() { # dir
	local pids pid left=""
	pids=$(pids_of "$1")
	it_ok bash "$SIM" stop --dir "$1" >/dev/null
	for pid in $pids; do
		alive "$pid" && left+=" $pid"
	done
	it_assert_eq "" "$left" "no process left after stop (${pids% })"
	it_expect_fail 1 "" bash "$SIM" status --dir "$1"
	it_assert_contains "$(cat "$IT_OUT")" "swtpm: not running" "status reports swtpm stopped"
	it_ok bash "$SIM" stop --dir "$1" >/dev/null # idempotent
}

tpm_random() { # dir: 8 random bytes through the instance's own abrmd
	(
		eval "$(bash "$SIM" env --dir "$1")"
		timeout 20 tpm2_getrandom --hex 8
	)
}

# --- start/stop twice in a row, each in its own directory ---
for round in 1 2; do
	d=$WORK/sim-$round
	start_sim "$d"
	out=$(it_ok bash "$SIM" status --dir "$d")
	it_assert_contains "$out" "abrmd: running" "round $round: status"
	envtext=$(cat "$d/env")
	for key in DBUS_SESSION_BUS_ADDRESS TPM2_PKCS11_TCTI TPM2TOOLS_TCTI TPM2_PKCS11_STORE; do
		it_assert_contains "$envtext" "$key=" "round $round: env has $key"
	done
	it_assert_contains "$envtext" "TPM2_PKCS11_STORE=$d/store" "round $round: store in the sim dir"
	port=$(sed -n 's/^TPM_SIM_PORT=//p' "$d/env")
	listen=$(ss -Hltn "( sport = :$port )" | awk '{print $4}')
	it_assert_eq "127.0.0.1:$port" "$listen" "round $round: swtpm listens on 127.0.0.1 only"
	rnd=$(tpm_random "$d")
	[[ "$rnd" =~ ^[0-9a-f]{16}$ ]] && it_pass "round $round: TPM answers through abrmd" ||
		it_fail "round $round: tpm2_getrandom gave '$rnd'"
	it_expect_fail 1 "already running" bash "$SIM" start --dir "$d"
	stop_sim_and_check "$d"
done

# --- must-fail usage ---
it_expect_fail 2 "usage:" bash "$SIM" start
it_expect_fail 2 "usage:" bash "$SIM" restart --dir "$WORK/x"
it_expect_fail 1 "only letters" bash "$SIM" start --dir "$WORK/a b"
it_expect_fail 1 "not found" bash "$SIM" env --dir "$WORK/sim-1"

# --- two concurrent instances ---
a=$WORK/sim-a
b=$WORK/sim-b
start_sim "$a"
start_sim "$b"
it_ok bash "$SIM" status --dir "$a" >/dev/null
it_ok bash "$SIM" status --dir "$b" >/dev/null
pa=$(sed -n 's/^TPM_SIM_PORT=//p' "$a/env")
pb=$(sed -n 's/^TPM_SIM_PORT=//p' "$b/env")
[[ -n "$pa" && "$pa" != "$pb" && "$pa" != $((pb + 1)) && "$pb" != $((pa + 1)) ]] &&
	it_pass "concurrent instances use different ports ($pa, $pb)" ||
	it_fail "ports collide: $pa, $pb"
na=$(sed -n 's/^TPM_SIM_DBUS_NAME=//p' "$a/env")
nb=$(sed -n 's/^TPM_SIM_DBUS_NAME=//p' "$b/env")
[[ "$na" != "$nb" ]] && it_pass "different D-Bus names" || it_fail "same D-Bus name $na"
[[ "$(tpm_random "$a")" =~ ^[0-9a-f]{16}$ && "$(tpm_random "$b")" =~ ^[0-9a-f]{16}$ ]] &&
	it_pass "both instances answer" || it_fail "an instance does not answer"

# --- a token and its key survive stop/start in the same directory ---
(
	eval "$(bash "$SIM" env --dir "$a")"
	it_ok pkcs11-tool --module "$TPM_MODULE" --init-token --label simtest --so-pin 87654321 >/dev/null
	it_ok pkcs11-tool --module "$TPM_MODULE" --token-label simtest --login --login-type so \
		--so-pin 87654321 --init-pin --pin 123456 >/dev/null
	it_ok pkcs11-tool --module "$TPM_MODULE" --token-label simtest --login --pin 123456 \
		--keypairgen --key-type EC:prime256v1 --id 01 --label k --usage-sign >/dev/null
)
stop_sim_and_check "$a"
start_sim "$a"
(
	eval "$(bash "$SIM" env --dir "$a")"
	printf 'hello' | openssl dgst -sha256 -binary >"$WORK/digest"
	it_ok pkcs11-tool --module "$TPM_MODULE" --token-label simtest --login --pin 123456 \
		--sign --mechanism ECDSA --id 01 --signature-format openssl \
		--input-file "$WORK/digest" --output-file "$WORK/sig" >/dev/null
	it_ok pkcs11-tool --module "$TPM_MODULE" --token-label simtest --read-object --type pubkey \
		--id 01 --output-file "$WORK/pub.der" >/dev/null
)
it_ok openssl pkeyutl -verify -pubin -keyform DER -inkey "$WORK/pub.der" \
	-in "$WORK/digest" -sigfile "$WORK/sig" >/dev/null
printf 'hellO' | openssl dgst -sha256 -binary >"$WORK/digest2"
it_expect_fail 1 "" openssl pkeyutl -verify -pubin -keyform DER -inkey "$WORK/pub.der" \
	-in "$WORK/digest2" -sigfile "$WORK/sig"
# The other instance's store does not see this token.
out=$(
	eval "$(bash "$SIM" env --dir "$b")"
	pkcs11-tool --module "$TPM_MODULE" --list-slots 2>/dev/null || true
)
[[ "$out" == *"token state:   uninitialized"* && "$out" != *simtest* ]] &&
	it_pass "stores are separate per instance" || it_fail "instance b's slots: $out"
stop_sim_and_check "$a"
# A half-dead stack (tpm2-abrmd crashed): status says so, stop cleans up the rest.
kill -KILL "$(cat "$b/abrmd.pid")"
for ((i = 0; i < 50; i++)); do alive "$(cat "$b/abrmd.pid")" || break; sleep 0.1; done
it_expect_fail 1 "" bash "$SIM" status --dir "$b"
it_assert_contains "$(cat "$IT_OUT")" "abrmd: not running" "status sees the crashed tpm2-abrmd"
it_assert_contains "$(cat "$IT_OUT")" "swtpm: running" "status sees swtpm still running"
stop_sim_and_check "$b"

it_summary
