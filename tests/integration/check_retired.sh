#!/usr/bin/env bash
# Issue 17, "What it must show" item 1: after real rotations `hsmca check
# --warn 90d` exits 0 and its metrics file passes promtool.
#
# A first adoption and a real rotation of the Talos access CA against the
# Talos API double (1 control plane + 1 worker, SIMULATED:
# tests/doubles/talos_cluster.sh) leave exactly what a rotation leaves in the
# state directory: the old generation marked retired (retired.json, written
# by the rotation's retire step) and its one-hour hsmca-revocation-probe
# certificate in its records.  Then:
#   - check exits 0 now and two hours on (the probe has expired: before this
#     fix that was an EXPIRED alarm for 30 days), the retired CA is listed as
#     retired (JSON, -v), never as an alarm;
#   - the metrics textfile passes `promtool check metrics` and labels the CA
#     series retired="true"/"false";
#   - must-fail: the live CA inside the window still exits 1; a probe-named
#     certificate with a normal lifetime is still checked; a check that
#     cannot run (no state directory, unreadable records, a corrupt
#     retirement marker) exits 3, not 1; usage stays 2.
set -euo pipefail
ROTATE_LIB_ONLY=1 . "${HSMCA_TEST_SRCDIR:?}/tests/integration/rotate_basic.sh"

PROMTOOL=$(command -v promtool || true)

it_setup
cd "$WORK"
mkdir -p "$WORK/outs"
OUTN=0
it_ok "$HSMCA" init --softhsm >/dev/null
C=$WORK/cluster
it_defer "$CLUSTER_SH" stop "$C"
TALOS_CLUSTER_DEADLINE=900 "$CLUSTER_SH" start "$C" 1 1 >"$WORK/cluster.out" 2>&1 ||
	{ cat "$WORK/cluster.out" >&2; it_fail "start the simulated cluster"; it_summary; }
. "$C/cluster.env"
it_register_pid "$TALOS_DOUBLE_PID"
PROJECT=$TALOS_PROJECT NODEFILE=$TALOS_NODE_FILE TC=$TALOS_TALOSCONFIG CONTROL=$TALOS_CONTROL
export HSMCA_TALOS_DEADLINE=${HSMCA_TALOS_DEADLINE:-4} HSMCA_ROTATE_SETTLE=${HSMCA_ROTATE_SETTLE:-3}

cd "$PROJECT"
rot_rotate adopt || { it_fail "first adoption: $(cat "$ROT_ERR")"; it_summary; }
g1=$(rot_current)
rot_rotate rotate || { it_fail "rotation: $(cat "$ROT_ERR")"; it_summary; }
g2=$(rot_current)
cd "$WORK"
[[ -n $g1 && -n $g2 && $g1 != "$g2" && -f $HSMCA_HOME/cas/$g1/retired.json ]] &&
	it_pass "the rotation retired $g1 (retired.json) for $g2" ||
	it_fail "no retired generation after the rotation ($g1 -> $g2)"
probe_serials=$("$HSMCA" --json certs list "$g1" | "$PY" -c 'import json,sys
print(" ".join(c["serial"] for c in json.load(sys.stdin) if c["subject"].split(",")[0] == "CN=hsmca-revocation-probe"))')
[[ -n $probe_serials ]] && it_pass "the retired CA's records hold the revocation probe" ||
	it_fail "no hsmca-revocation-probe certificate in $g1's records"

# check_metrics FILE: promtool's verdict (its lint included).
check_metrics() {
	local out
	if [[ -z $PROMTOOL ]]; then
		it_fail "promtool is not installed (scripts/deps.sh: hsmca_install_promtool)"
		return
	fi
	if out=$("$PROMTOOL" check metrics <"$1" 2>&1); then
		it_pass "promtool check metrics accepts $(basename "$1")"
	else
		it_fail "promtool check metrics: $out"
	fi
}

# Now and two hours on: the probe (one hour) has expired, nothing alarms.
for when in now later; do
	env=()
	[[ $when == later ]] && env=(HSMCA_NOW="$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)")
	rc=0
	env "${env[@]}" "$HSMCA" check --warn 90d --metrics "$WORK/$when.prom" >"$WORK/$when.out" 2>&1 || rc=$?
	it_assert_eq 0 "$rc" "check --warn 90d after the rotation exits 0 ($when): $(cat "$WORK/$when.out")"
	it_assert_contains "$(cat "$WORK/$when.out")" "1 retired CA not checked" \
		"the summary counts the retired CA ($when)"
	check_metrics "$WORK/$when.prom"
	grep -q "^hsmca_ca_expiry_seconds{ca=\"$g1\",retired=\"true\"} " "$WORK/$when.prom" &&
		grep -q "^hsmca_ca_expiry_seconds{ca=\"$g2\",retired=\"false\"} " "$WORK/$when.prom" &&
		it_pass "metrics label $g1 retired and $g2 live ($when)" ||
		it_fail "retired label missing: $(grep ca_expiry "$WORK/$when.prom")"
	grep -q "ca=\"$g1\",serial" "$WORK/$when.prom" &&
		it_fail "certificates of the retired CA exported as live ($when)" ||
		it_pass "no certificate sample of the retired CA ($when)"
	grep -q "hsmca-revocation-probe" "$WORK/$when.prom" &&
		it_fail "the revocation probe is exported ($when)" ||
		it_pass "the revocation probe is not exported ($when)"
	grep -q '^hsmca_check_expiring 0$' "$WORK/$when.prom" &&
		it_pass "hsmca_check_expiring 0 ($when)" || it_fail "hsmca_check_expiring is not 0 ($when)"
done

json=$(HSMCA_NOW="$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)" "$HSMCA" --json check --warn 90d)
it_assert_eq "0 1 $g1 rotated ok" "$("$PY" -c 'import json,sys
d = json.load(sys.stdin)
r = d["retired"]
print(len(d["expiring"]), len(r), r[0]["ca"], r[0]["reason"],
      "ok" if r[0]["rotation"] and r[0]["retired"] else "missing")' <<<"$json")" \
	"--json: no finding; the retired CA listed with its rotation and reason"
it_assert_contains "$("$HSMCA" -v check --warn 90d)" "retired: CA $g1" "-v names the retired CA"

# Must-fail: the live CA near its end is still an alarm (exit 1), and the
# retired one is still not.
end=$(openssl x509 -in "$HSMCA_HOME/cas/$g2/ca.pem" -noout -enddate | cut -d= -f2)
near=$(date -u -d "$end - 10 days" +%Y-%m-%dT%H:%M:%SZ)
HSMCA_NOW=$near it_expect_fail 1 "" "$HSMCA" check --warn 90d --metrics "$WORK/near.prom"
it_assert_contains "$(cat "$IT_OUT")" "CA $g2" "the live CA inside the window is reported"
grep -q "CA $g1" "$IT_OUT" && it_fail "the retired CA is reported as expiring" ||
	it_pass "the retired CA is not an alarm even near its end"
check_metrics "$WORK/near.prom"

# A certificate named like a probe but with a normal lifetime is checked.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=hsmca-revocation-probe" -out fake.csr 2>/dev/null
it_ok "$HSMCA" sign "$g2" --csr fake.csr --profile talos-reader --validity 30d --out fake.pem >/dev/null
it_expect_fail 1 "" "$HSMCA" check --warn 90d
it_assert_contains "$(cat "$IT_OUT")" "CN=hsmca-revocation-probe" \
	"a 30-day certificate named hsmca-revocation-probe is still reported"

# A check that cannot run exits 3 (not 1, which means "something expires").
it_expect_fail 3 "not an hsmca state directory" "$HSMCA" --home "$WORK/nowhere" check
it_expect_fail 2 "" "$HSMCA" check --warn nonsense
cp "$HSMCA_HOME/cas/$g1/retired.json" retired.bak
printf 'not json' >"$HSMCA_HOME/cas/$g1/retired.json"
it_expect_fail 3 "not a retirement marker" "$HSMCA" check --metrics "$WORK/bad.prom"
[[ ! -e $WORK/bad.prom ]] && it_pass "no textfile from a check that could not run" ||
	it_fail "a textfile was written by a failed check"
cp retired.bak "$HSMCA_HOME/cas/$g1/retired.json"
if [[ $(id -u) == 0 ]]; then
	# root reads anything: make the records a directory instead.
	mv "$HSMCA_HOME/cas/$g2/issued.jsonl" issued.bak
	mkdir "$HSMCA_HOME/cas/$g2/issued.jsonl"
else
	cp "$HSMCA_HOME/cas/$g2/issued.jsonl" issued.bak
	chmod 000 "$HSMCA_HOME/cas/$g2/issued.jsonl"
fi
it_expect_fail 3 "CA $g2" "$HSMCA" check
rm -rf "$HSMCA_HOME/cas/$g2/issued.jsonl"
mv issued.bak "$HSMCA_HOME/cas/$g2/issued.jsonl"
it_expect_fail 1 "" "$HSMCA" check --warn 90d
it_summary
