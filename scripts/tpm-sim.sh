#!/usr/bin/env bash
# A software TPM for tests and trials: swtpm behind tpm2-abrmd on a private
# D-Bus session bus, all confined to one directory.
#
#   scripts/tpm-sim.sh start  --dir DIR [--strict-da]
#                                         start (or fail); writes DIR/env
#   scripts/tpm-sim.sh stop   --dir DIR   stop all three by PID; idempotent
#   scripts/tpm-sim.sh status --dir DIR   exit 0 iff all three are alive
#   scripts/tpm-sim.sh env    --dir DIR   print "export K=V" lines for eval
#
# DIR/state (TPM NV state) and DIR/store (libtpm2_pkcs11's sqlite store) are
# kept across stop/start, so tokens and keys survive a restart in the same
# DIR. swtpm listens on 127.0.0.1 only, on a free port pair (P, P+1).
# Dictionary-attack lockout is relaxed at start unless --strict-da (see
# relax_dictionary_attack_lockout); stop sends TPM2_Shutdown first.
# Needs: swtpm, tpm2-abrmd, libtss2-tcti-tabrmd0, dbus (dbus-daemon),
# tpm2-tools (readiness probe), python3 (port choice).
set -euo pipefail

readonly START_TIMEOUT=30 # seconds for the stack to answer
readonly STOP_TIMEOUT=5   # seconds between TERM and KILL
readonly PY=/usr/bin/python3

die() {
	printf 'tpm-sim: %s\n' "$*" >&2
	exit 1
}

usage() {
	printf 'usage: %s start|stop|status|env --dir DIR [--strict-da]\n' "${0##*/}" >&2
	exit 2
}

# --- processes, by PID file; a PID counts only if its command name matches ---

pid_of() { # name -> pid of DIR/name.pid if that process is alive and is $2
	local file=$DIR/$1.pid pid state
	[[ -s "$file" ]] || return 1
	pid=$(tr -d ' \n' 2>/dev/null <"$file") || return 1 # no newline from swtpm
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]] || return 1
	# A zombie is dead for our purposes.
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ "$state" != Z ]] || return 1
	printf '%s\n' "$pid"
}

stop_one() { # name comm
	local pid i
	if ! pid=$(pid_of "$1" "$2"); then
		rm -f "$DIR/$1.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		pid_of "$1" "$2" >/dev/null || break
		sleep 0.1
	done
	if pid_of "$1" "$2" >/dev/null; then
		printf 'tpm-sim: %s (pid %s) ignored TERM, sending KILL\n' "$1" "$pid" >&2
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 30; i++)); do
			pid_of "$1" "$2" >/dev/null || break
			sleep 0.1
		done
	fi
	pid_of "$1" "$2" >/dev/null && die "$1 (pid $pid) does not die"
	rm -f "$DIR/$1.pid"
}

env_value() { # KEY -> value from DIR/env
	sed -n "s/^$1=//p" "$DIR/env" 2>/dev/null
}

# TPM2_Shutdown before the power goes: an unorderly shutdown after a PIN was
# used counts as one dictionary-attack failure at the next start.
orderly_shutdown() {
	local tcti port
	pid_of swtpm swtpm >/dev/null || return 0
	if pid_of abrmd tpm2-abrmd >/dev/null; then
		tcti=$(env_value TPM2TOOLS_TCTI)
	else
		port=$(env_value TPM_SIM_PORT)
		[[ -n "$port" ]] && tcti=swtpm:host=127.0.0.1,port=$port
	fi
	[[ -n "${tcti:-}" ]] || return 0
	DBUS_SESSION_BUS_ADDRESS=unix:path=$DIR/bus timeout 5 \
		tpm2_shutdown --clear -T "$tcti" >/dev/null 2>&1 || true
}

cmd_stop() {
	[[ -d "$DIR" ]] || return 0
	orderly_shutdown
	stop_one abrmd tpm2-abrmd
	stop_one dbus dbus-daemon
	stop_one swtpm swtpm
	rm -f "$DIR/env" "$DIR/bus"
}

cmd_status() {
	local ok=0 pid name comm
	for name in swtpm:swtpm dbus:dbus-daemon abrmd:tpm2-abrmd; do
		comm=${name#*:}
		name=${name%%:*}
		if pid=$(pid_of "$name" "$comm"); then
			printf '%s: running (pid %s)\n' "$name" "$pid"
		else
			printf '%s: not running\n' "$name"
			ok=1
		fi
	done
	return $ok
}

cmd_env() {
	[[ -f "$DIR/env" ]] || die "$DIR/env: not found (is the simulator started?)"
	sed "s/^\([A-Z0-9_]*\)=\(.*\)\$/export \1='\2'/" "$DIR/env"
}

# --- start ---

# Two consecutive free ports P, P+1 on 127.0.0.1 (the swtpm TCTI uses P+1
# as the control port); $1, if given, is tried first. Another process may
# still take them before swtpm binds; start retries with new ports then.
free_port_pair() {
	"$PY" - "${1:-0}" <<'EOF'
import socket, sys

def pair(p):
    a, b = socket.socket(), socket.socket()
    if p:
        # The previous run's port: its connections may linger in TIME_WAIT,
        # which swtpm (SO_REUSEADDR) does not mind either.
        for s in (a, b):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        a.bind(("127.0.0.1", p))
        p = a.getsockname()[1]
        if p >= 65535:
            return None
        b.bind(("127.0.0.1", p + 1))
        return p
    except OSError:
        return None
    finally:
        a.close()
        b.close()

want = int(sys.argv[1])
if 1024 < want < 65535 and pair(want):
    print(want)
    raise SystemExit(0)
for _ in range(100):
    p = pair(0)
    if p:
        print(p)
        break
else:
    raise SystemExit("no free port pair")
EOF
}

write_bus_conf() {
	cat >"$DIR/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$DIR/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
}

start_swtpm() { # -> sets PORT
	local attempt prev=
	# The port of the last run in this DIR, if still free: the TCTI (its
	# bus name carries the port) then stays the same across a restart, so
	# a state directory made with `hsmca init --tpm --tcti ...` keeps working.
	[[ -s "$DIR/port" ]] && prev=$(tr -dc 0-9 <"$DIR/port")
	for attempt in 1 2 3 4 5; do
		PORT=$(free_port_pair "$prev") || die "no free port pair on 127.0.0.1"
		prev=
		rm -f "$DIR/swtpm.pid"
		if swtpm socket --tpm2 \
			--tpmstate "dir=$DIR/state,mode=0600" \
			--server "type=tcp,port=$PORT,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1" \
			--flags not-need-init,startup-clear \
			--pid "file=$DIR/swtpm.pid" \
			--log "file=$DIR/swtpm.log" \
			--daemon </dev/null >>"$DIR/swtpm.log" 2>&1; then
			wait_for 5 pid_of swtpm swtpm || start_fail "swtpm wrote no PID file"
			printf '%s\n' "$PORT" >"$DIR/port"
			return 0
		fi
		printf 'tpm-sim: swtpm on port %s failed (attempt %s), retrying\n' "$PORT" "$attempt" >&2
	done
	start_fail "swtpm did not start"
}

start_dbus() {
	write_bus_conf
	rm -f "$DIR/bus"
	dbus-daemon --config-file="$DIR/bus.conf" --fork --nopidfile --nosyslog \
		--print-pid=1 </dev/null >"$DIR/dbus.pid" 2>>"$DIR/dbus.log" ||
		start_fail "dbus-daemon did not start"
	wait_for 5 pid_of dbus dbus-daemon || start_fail "dbus-daemon is not running"
	wait_for 5 test -S "$DIR/bus" || start_fail "no D-Bus socket $DIR/bus"
}

start_abrmd() {
	local args=(--session "--dbus-name=$BUS_NAME" "--tcti=swtpm:host=127.0.0.1,port=$PORT"
		--flush-all --logger=stdout)
	[[ $(id -u) == 0 ]] && args+=(--allow-root)
	rm -f "$DIR/abrmd.pid"
	# setsid -f: detached from our session; the inner shell records its own
	# PID, then becomes tpm2-abrmd.
	DBUS_SESSION_BUS_ADDRESS=unix:path=$DIR/bus \
		setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$DIR/abrmd.pid" \
		tpm2-abrmd "${args[@]}" </dev/null >>"$DIR/abrmd.log" 2>&1
	wait_for 5 pid_of abrmd tpm2-abrmd || start_fail "tpm2-abrmd is not running"
}

start_fail() { # message: show the logs, undo the partial start, exit 1
	local log
	printf 'tpm-sim: start: %s\n' "$1" >&2
	for log in swtpm dbus abrmd probe; do
		[[ -s "$DIR/$log.log" ]] || continue
		printf -- '--- %s.log ---\n' "$log" >&2
		tail -n 5 "$DIR/$log.log" >&2
	done
	cmd_stop
	exit 1
}

tpm_answers() {
	timeout 5 tpm2_getrandom -T "$TCTI" 8 >/dev/null 2>>"$DIR/probe.log"
}

wait_for() { # seconds cmd...: poll cmd every 0.1 s
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@" >/dev/null 2>&1 && return 0
	return 1
}

# swtpm's TPM locks every PIN-protected object for 1000 s after 3 wrong
# PINs (TPM2_PT_MAX_AUTH_FAIL 3, TPM2_PT_LOCKOUT_INTERVAL 1000): tests that
# try a wrong PIN would lock each other out. Unless --strict-da, allow 1000
# failures, forget one a second, and clear any lockout.
relax_dictionary_attack_lockout() {
	((STRICT_DA == 0)) || return 0
	local tools=(env "DBUS_SESSION_BUS_ADDRESS=unix:path=$DIR/bus" timeout 10)
	"${tools[@]}" tpm2_dictionarylockout --clear-lockout -T "$TCTI" \
		>>"$DIR/probe.log" 2>&1 || start_fail "tpm2_dictionarylockout --clear-lockout failed"
	"${tools[@]}" tpm2_dictionarylockout --setup-parameters --max-tries=1000 \
		--recovery-time=1 --lockout-recovery-time=1 -T "$TCTI" \
		>>"$DIR/probe.log" 2>&1 || start_fail "tpm2_dictionarylockout --setup-parameters failed"
}

write_env() {
	local tmp=$DIR/env.tmp.$$
	{
		printf 'DBUS_SESSION_BUS_ADDRESS=%s\n' "unix:path=$DIR/bus"
		printf 'TPM2_PKCS11_TCTI=%s\n' "$TCTI"
		printf 'TPM2TOOLS_TCTI=%s\n' "$TCTI"
		printf 'TPM2OPENSSL_TCTI=%s\n' "$TCTI"
		printf 'TPM2_PKCS11_STORE=%s\n' "$DIR/store"
		printf 'TPM_SIM_DIR=%s\n' "$DIR"
		printf 'TPM_SIM_PORT=%s\n' "$PORT"
		printf 'TPM_SIM_DBUS_NAME=%s\n' "$BUS_NAME"
	} >"$tmp"
	mv -f "$tmp" "$DIR/env"
}

cmd_start() {
	local missing=() t
	for t in swtpm tpm2-abrmd dbus-daemon tpm2_getrandom setsid "$PY"; do
		command -v "$t" >/dev/null || missing+=("$t")
	done
	[[ -e /usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0 ]] ||
		ldconfig -p | grep -q libtss2-tcti-tabrmd.so.0 || missing+=(libtss2-tcti-tabrmd0)
	((${#missing[@]} == 0)) || die "missing: ${missing[*]}"

	mkdir -p "$DIR"
	chmod 0700 "$DIR"
	DIR=$(cd "$DIR" && pwd -P)
	if cmd_status >/dev/null; then
		die "already running in $DIR (stop it first)"
	fi
	cmd_stop # leftovers of a crashed instance
	umask 077
	mkdir -p "$DIR/state" "$DIR/store"
	: >"$DIR/probe.log"

	start_swtpm
	# Unique per instance, though each instance has its own bus anyway.
	BUS_NAME=com.intel.tss2.Tabrmd.hsmca$PORT
	TCTI="tabrmd:bus_type=session,bus_name=$BUS_NAME"
	start_dbus
	start_abrmd
	local ok=1
	for ((t = 0; t < START_TIMEOUT * 5; t++)); do
		pid_of abrmd tpm2-abrmd >/dev/null || break
		if DBUS_SESSION_BUS_ADDRESS=unix:path=$DIR/bus tpm_answers; then
			ok=0
			break
		fi
		sleep 0.2
	done
	((ok == 0)) || start_fail "the TPM did not answer within ${START_TIMEOUT}s"
	relax_dictionary_attack_lockout
	write_env
	printf 'tpm-sim: running in %s (swtpm 127.0.0.1:%s, D-Bus name %s)\n' "$DIR" "$PORT" "$BUS_NAME"
}

# --- arguments ---

CMD=
DIR=
STRICT_DA=0
while (($#)); do
	case $1 in
	--dir)
		(($# >= 2)) || usage
		DIR=$2
		shift 2
		;;
	--dir=*)
		DIR=${1#--dir=}
		shift
		;;
	--strict-da)
		STRICT_DA=1
		shift
		;;
	start | stop | status | env)
		[[ -z "$CMD" ]] || usage
		CMD=$1
		shift
		;;
	*) usage ;;
	esac
done
[[ -n "$CMD" && -n "$DIR" ]] || usage
[[ "$DIR" == /* ]] || DIR=$PWD/$DIR
# DIR ends up unquoted in DIR/env (KEY=value lines, read by shells and by
# programs alike) and in a D-Bus address: keep it to plain characters.
[[ "$DIR" =~ ^[A-Za-z0-9_./+-]+$ ]] || die "--dir: only letters, digits and _ . / + - please: $DIR"
PORT=
BUS_NAME=
TCTI=

case $CMD in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
esac
