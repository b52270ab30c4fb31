# shellcheck shell=bash
# Helpers for hsmca integration tests. Source it, then call it_setup:
#
#   set -euo pipefail
#   . "$HSMCA_TEST_SRCDIR/tests/integration/lib/common.sh"
#   it_setup
#   it_ok "$HSMCA" --version
#   it_expect_fail 2 "usage" "$HSMCA" --no-such-option
#   it_summary
#
# Checks (it_ok, it_expect_fail, it_assert_*) report "PASS: …"/"FAIL: …" on
# stderr and return 1 on failure, so under `set -e` a test stops at its first
# failed check (write `check || true` to go on). Results are counted in a file
# under $WORK, so checks inside $( … ) count too. If the script ends without
# it_summary, or after a failure, the exit trap prints the summary and makes
# the exit status non-zero.
#
# Variables: WORK (the temp dir), HSMCA_HOME=$WORK/home, IT_OUT / IT_ERR (files
# holding stdout / stderr of the last command run by it_ok / it_expect_fail),
# IT_PKCS11_MODULE (default SoftHSM2), IT_KEEP=1 keeps $WORK for debugging.

IT_PKCS11_MODULE=${IT_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
IT_PYTHON=/usr/bin/python3
WORK=
IT_OUT=
IT_ERR=
_it_summary_done=0

_it_die() {
	printf 'it: %s\n' "$*" >&2
	exit 1
}

_it_need_setup() {
	[[ -n "$WORK" && -d "$WORK/.it" ]] || _it_die "call it_setup first"
}

# it_setup: make $WORK, export HSMCA_HOME, install the cleanup trap.
it_setup() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/hsmca-it.XXXXXXXX")
	mkdir -m 0700 "$WORK/.it" "$WORK/home"
	: >"$WORK/.it/results"
	: >"$WORK/.it/pids"
	IT_OUT=$WORK/.it/out
	IT_ERR=$WORK/.it/err
	export WORK HSMCA_HOME=$WORK/home
	trap _it_exit EXIT
	# Turn signals into an exit so the EXIT trap cleans up.
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# it_register_pid PID...: stop these processes (TERM, then KILL) at exit.
it_register_pid() {
	_it_need_setup
	local pid
	for pid in "$@"; do
		[[ "$pid" =~ ^[0-9]+$ ]] || _it_die "it_register_pid: not a PID: $pid"
		printf '%s\n' "$pid" >>"$WORK/.it/pids"
	done
}

# it_defer CMD...: run CMD at exit, before registered PIDs are killed (last
# deferred first). For stopping helpers that have their own stop command.
it_defer() {
	_it_need_setup
	local q
	printf -v q '%q ' "$@"
	printf '%s\n' "$q" >>"$WORK/.it/defer"
}

# it_kill_pid PID [SECONDS]: TERM, wait up to SECONDS (default 5), then KILL.
# Returns 0 once the process is gone.
it_kill_pid() {
	local pid=$1 limit=$(( ${2:-5} * 10 )) i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

_it_cleanup() {
	[[ -n "$WORK" && -d "$WORK/.it" ]] || return 0
	local pid cmd
	if [[ -f "$WORK/.it/defer" ]]; then
		while read -r cmd; do
			eval "$cmd" >/dev/null 2>&1 || true
		done < <(tac "$WORK/.it/defer")
	fi
	while read -r pid; do
		if [[ -n "$pid" ]]; then
			it_kill_pid "$pid" 5 || true
		fi
	done <"$WORK/.it/pids"
	if [[ "${IT_KEEP:-0}" == 1 ]]; then
		printf 'it: keeping %s\n' "$WORK" >&2
	else
		rm -rf -- "$WORK"
	fi
}

_it_exit() {
	local rc=$?
	set +e
	if [[ $_it_summary_done == 0 && -n "$WORK" && -f "$WORK/.it/results" ]]; then
		local failed
		failed=$(grep -c '^FAIL' "$WORK/.it/results")
		if [[ $rc == 0 ]]; then
			printf 'it: script ended without it_summary\n' >&2
			rc=1
		elif [[ $failed == 0 ]]; then
			printf 'it: script aborted (exit %s) outside a check\n' "$rc" >&2
		fi
		printf '%s passed, %s failed\n' "$(grep -c '^PASS' "$WORK/.it/results")" "$failed"
		[[ $failed == 0 ]] || rc=1
	fi
	_it_cleanup
	exit "$rc"
}

# it_pass MESSAGE / it_fail MESSAGE: record one result. it_fail returns 1.
it_pass() {
	_it_need_setup
	printf 'PASS\n' >>"$WORK/.it/results"
	printf 'PASS: %s\n' "$*" >&2
}

it_fail() {
	_it_need_setup
	printf 'FAIL\n' >>"$WORK/.it/results"
	printf 'FAIL: %s\n' "$*" >&2
	return 1
}

# it_summary: print "N passed, M failed"; exit non-zero if M > 0 or nothing
# was checked. Ends the script.
it_summary() {
	_it_need_setup
	local passed failed
	# A test (or hsmca) that renamed a file over /dev/null breaks every later
	# test on the machine: catch the culprit here.
	if [ ! -c /dev/null ]; then
		it_fail "/dev/null is no longer a character device (something wrote over it)"
	fi
	passed=$(grep -c '^PASS' "$WORK/.it/results" || true)
	failed=$(grep -c '^FAIL' "$WORK/.it/results" || true)
	_it_summary_done=1
	printf '%s passed, %s failed\n' "$passed" "$failed"
	if ((failed > 0)); then
		exit 1
	fi
	if ((passed == 0)); then
		printf 'it: no checks ran\n' >&2
		exit 1
	fi
	exit 0
}

# _it_sanitizer_report RC: 0 if the last command's exit code or stderr is a
# sanitizer's (HSMCA_SANITIZER_EXIT, set by tests/CMakeLists.txt in the ASan
# build, or a report on stderr). Such a run is never a pass, whatever the
# check expected: a halt must not pass for a refusal.
_it_sanitizer_report() {
	[[ -n "${HSMCA_SANITIZER_EXIT:-}" && "$1" == "$HSMCA_SANITIZER_EXIT" ]] && return 0
	grep -qE '^(==[0-9]+==ERROR: [A-Za-z]+Sanitizer|SUMMARY: [A-Za-z]+Sanitizer)|: runtime error: ' \
		"$IT_ERR" 2>/dev/null
}

_it_show_output() {
	printf '  --- stdout ---\n' >&2
	sed 's/^/  | /' "$IT_OUT" >&2
	printf '  --- stderr ---\n' >&2
	sed 's/^/  | /' "$IT_ERR" >&2
}

# it_ok CMD...: run CMD, expect exit 0. Its stdout is passed through (so
# `out=$(it_ok cmd)` works); on failure, prints exit code, stdout, stderr.
it_ok() {
	_it_need_setup
	local rc=0
	"$@" >"$IT_OUT" 2>"$IT_ERR" || rc=$?
	if ((rc != 0)) || _it_sanitizer_report "$rc"; then
		it_fail "$* exited $rc, expected 0 (and no sanitizer report)" || true
		_it_show_output
		return 1
	fi
	cat "$IT_OUT"
	it_pass "$*"
}

# it_expect_fail CODE SUBSTRING CMD...: run CMD, expect exit CODE exactly
# (1 for "refused", 2 for usage: never just "non-zero") and SUBSTRING (fixed
# string; "" for any) in its stderr; a sanitizer report always fails. Its
# stdout is left in $IT_OUT.
it_expect_fail() {
	_it_need_setup
	local want=$1 needle=$2 rc=0
	shift 2
	"$@" >"$IT_OUT" 2>"$IT_ERR" || rc=$?
	if _it_sanitizer_report "$rc"; then
		it_fail "$* ended in a sanitizer report (exit $rc), not a refusal" || true
		_it_show_output
		return 1
	fi
	if ((rc != want)) || { [[ -n "$needle" ]] && ! grep -qF -- "$needle" "$IT_ERR"; }; then
		it_fail "$* exited $rc (expected $want) with stderr containing '$needle'?" || true
		_it_show_output
		return 1
	fi
	it_pass "$* fails with $want: $needle"
}

# it_assert_eq EXPECTED ACTUAL MESSAGE
it_assert_eq() {
	if [[ "$1" == "$2" ]]; then
		it_pass "$3"
	else
		it_fail "$3: expected '$1', got '$2'"
	fi
}

# it_assert_contains HAYSTACK NEEDLE MESSAGE (fixed string)
it_assert_contains() {
	if [[ "$1" == *"$2"* ]]; then
		it_pass "$3"
	else
		it_fail "$3: '$2' not found in: $1"
	fi
}

# it_pin_file NAME VALUE: write VALUE to $WORK/NAME (mode 0600, no newline)
# and print the path.
it_pin_file() {
	_it_need_setup
	local path=$WORK/$1
	(umask 077 && printf '%s' "$2" >"$path")
	chmod 0600 "$path"
	printf '%s\n' "$path"
}

# it_softhsm_setup: a private, empty SoftHSM2 token store under $WORK;
# exports SOFTHSM2_CONF.
it_softhsm_setup() {
	_it_need_setup
	mkdir -p "$WORK/softhsm/tokens"
	chmod 0700 "$WORK/softhsm" "$WORK/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$WORK/softhsm/tokens" >"$WORK/softhsm/softhsm2.conf"
	export SOFTHSM2_CONF=$WORK/softhsm/softhsm2.conf
}

# it_snapshot_token USER_PIN [TOKEN_LABEL]: list the token's objects
# (public and private) with pkcs11-tool, for before/after comparisons.
it_snapshot_token() {
	local args=(--module "$IT_PKCS11_MODULE" --list-objects --login --pin "$1")
	[[ $# -ge 2 ]] && args+=(--token-label "$2")
	pkcs11-tool "${args[@]}" 2>&1
}

# it_snapshot_dir DIR: "sha256  ./path" for every file under DIR, sorted.
it_snapshot_dir() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# it_free_port [N]: print N (default 1) distinct free TCP ports on
# 127.0.0.1, one a line. Another process may still take one before use.
it_free_port() {
	"$IT_PYTHON" - "${1:-1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# it_wait_file PATH TIMEOUT_SECONDS: wait until PATH exists; 1 on timeout.
it_wait_file() {
	local path=$1 limit=$(($2 * 10)) i
	for ((i = 0; i < limit; i++)); do
		[[ -e "$path" ]] && return 0
		sleep 0.1
	done
	[[ -e "$path" ]] && return 0
	printf 'it: %s did not appear within %ss\n' "$path" "$2" >&2
	return 1
}
