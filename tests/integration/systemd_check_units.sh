#!/usr/bin/env bash
# The shipped systemd units (scripts/systemd/hsmca-check.service.in as the
# build configures it, and hsmca-check.timer): systemd accepts them, the timer
# is daily and persistent, and the service's own ExecStart line, run against
# a real state directory, writes a textfile and exits as documented (0
# nothing expiring, 1 something).  The installed package is checked by
# packaging.sh.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_BUILD_DIR:?the build directory}"

it_setup
cd "$WORK"
UNITS=$HSMCA_TEST_SRCDIR/scripts/systemd
SERVICE=$HSMCA_BUILD_DIR/systemd/hsmca-check.service
TIMER=$UNITS/hsmca-check.timer

unit_value() { # unit_value FILE KEY: the value of the last KEY= line
	sed -n "s/^$2=//p" "$1" | tail -1
}

it_assert_eq daily "$(unit_value "$TIMER" OnCalendar)" "the timer runs daily"
it_assert_eq true "$(unit_value "$TIMER" Persistent)" "missed runs are caught up (Persistent=true)"
it_assert_eq timers.target "$(unit_value "$TIMER" WantedBy)" "the timer installs into timers.target"
it_assert_eq oneshot "$(unit_value "$SERVICE" Type)" "the service is a oneshot"
exec_start=$(unit_value "$SERVICE" ExecStart)
it_assert_contains "$exec_start" "check --warn 90d --metrics /var/lib/prometheus/node-exporter/hsmca.prom" \
	"the service writes node_exporter's textfile"
it_assert_eq -/var/lib/prometheus/node-exporter "$(unit_value "$SERVICE" ReadWritePaths)" \
	"the textfile directory is the only writable path (a missing one: the check's exit 3)"
it_assert_eq yes "$(unit_value "$SERVICE" PrivateNetwork)" "no network for a check of local files"

# systemd's own parser, on copies whose ExecStart points at this build (the
# man page is not installed here, so that one complaint is expected).
mkdir -p units
sed -E "s|^ExecStart=[^ ]*/hsmca |ExecStart=$HSMCA |" "$SERVICE" >units/hsmca-check.service
cp "$TIMER" units/hsmca-check.timer
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify units/hsmca-check.timer units/hsmca-check.service >verify.out 2>&1 || true
	if grep -v "Command 'man hsmca(1)' failed" verify.out | grep -q .; then
		it_fail "systemd-analyze verify: $(cat verify.out)"
	else
		it_pass "systemd-analyze verify accepts both units"
	fi
else
	it_fail "systemd-analyze is not installed (systemd package)"
fi

# The ExecStart command itself, with the textfile path moved into $WORK.
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Timer Root" --validity 2y >/dev/null
mkdir -p textfile
read -r -a argv <<<"${exec_start//\/var\/lib\/prometheus\/node-exporter/$WORK/textfile}"
argv[0]=$HSMCA
it_ok "${argv[@]}" >/dev/null
grep -q '^hsmca_ca_expiry_seconds{ca="root",retired="false"} ' textfile/hsmca.prom &&
	it_pass "the service command writes the CA's expiry" || it_fail "no CA sample in the textfile"
grep -q '^hsmca_check_timestamp_seconds ' textfile/hsmca.prom &&
	it_pass "the textfile carries the check's timestamp" || it_fail "no timestamp sample"
# The same command 2 years on: the CA is inside the window, exit 1.
later=$(date -u -d "+700 days" +%Y-%m-%dT%H:%M:%SZ)
HSMCA_NOW=$later it_expect_fail 1 "" "${argv[@]}"
it_assert_contains "$(cat "$IT_OUT")" "CA root (CN=Timer Root)" "the service's check names the CA"
it_summary
