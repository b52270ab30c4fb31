#!/usr/bin/env bash
# Issue 4, "What it must show" item 4 (and the "works against the TPM
# token too" of `hsmca bench issue`), on a software TPM: the benchmark runs
# on the TPM token with one and two sessions, reports the raw TPM C_Sign
# rate of its key, the issuance rate and their ratio (text and JSON), and
# cleans up its throwaway keys; batch issuance (`hsmca issue --jobs 2`,
# sessions duplicated per worker) signs a directory of CSRs in the TPM, and
# the certificates verify. NOT a performance test: the figures are only
# checked to be positive and consistent; the measured ratio is reported in
# docs/tpm.md. (This issues a few hundred certificates through one TPM
# session and one key, past libtpm2_pkcs11's per-session object limit of
# 14 key generations / 28 keys, which only counts distinct keys.)
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"
SIM=$HSMCA_TEST_SRCDIR/scripts/tpm-sim.sh
PY=/usr/bin/python3

it_setup
cd "$WORK"
mkdir -m 0700 tmp
export TMPDIR=$WORK/tmp

tpm_start() {
	local f
	it_defer bash "$SIM" stop --dir "$1"
	it_ok bash "$SIM" start --dir "$1" >/dev/null
	for f in swtpm dbus abrmd; do
		it_register_pid "$(tr -d ' \n' <"$1/$f.pid")"
	done
	set -a
	# shellcheck disable=SC1091 # written by tpm-sim.sh at start
	. "$1/env"
	set +a
}
positive() { # NAME VALUE: VALUE is a number > 0
	if awk -v v="$2" 'BEGIN { exit !(v + 0 > 0 && v ~ /^[0-9.]+$/) }'; then
		it_pass "$1 = $2 > 0"
	else
		it_fail "$1 is not a positive number: '$2'"
	fi
}
labels() { "$HSMCA" --json key list | "$PY" -c 'import json,sys; print(sorted(k["label"] for k in json.load(sys.stdin)))'; }

tpm_start "$WORK/tpm"
it_ok "$HSMCA" init --tpm --tcti "$TPM2_PKCS11_TCTI" >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=TPM Bench Root" >/dev/null
keys_before=$(labels)

# --- text, one session --------------------------------------------------------
out=$(it_ok "$HSMCA" bench issue --count 300)
printf '%s\n' "$out" >bench1.txt
for line in "token:                  hsmca (TPM2.0 Cryptoki)" "CA key:                 ec-p256" \
	"raw C_Sign, 1 session:" "issuance,  1 session :" "ratio issuance / raw C_Sign (1 session):" \
	"peak RSS:"; do
	it_assert_contains "$out" "$line" "TPM bench text has '$line'"
done
raw1=$(sed -n 's/^raw C_Sign, 1 session: *\([0-9.]*\) \/s$/\1/p' bench1.txt)
rate=$(sed -n 's/^issuance, *1 session *: *\([0-9.]*\) certs\/s .*/\1/p' bench1.txt)
ratio=$(sed -n 's/^ratio issuance \/ raw C_Sign (1 session): \([0-9.]*\)$/\1/p' bench1.txt)
positive "TPM raw C_Sign rate" "$raw1"
positive "TPM issuance rate" "$rate"
positive "TPM ratio" "$ratio"
it_assert_eq 300 "$(sed -n 's/^issuance.*(\([0-9]*\) certificates from .*/\1/p' bench1.txt)" \
	"bench issued exactly --count certificates on the TPM"
it_assert_contains "$(cat "$IT_ERR")" "in token 'hsmca'" "bench names the TPM token"
printf 'TPM bench (1 session): raw %s/s, issuance %s/s, ratio %s\n' "$raw1" "$rate" "$ratio" >&2

# --- JSON, two sessions (hsmca_token_dup on the TPM) -------------------------
it_ok "$HSMCA" --json bench issue --count 300 --jobs 2 >b2.json
it_ok "$PY" - b2.json <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
bad = []
for k in ("raw_sign_per_s_1_session", "raw_sign_per_s_jobs_sessions", "issue_per_s",
          "ratio_vs_raw_1_session", "ratio_vs_raw_jobs_sessions"):
    if not (isinstance(d.get(k), (int, float)) and d[k] > 0):
        bad.append("%s = %r" % (k, d.get(k)))
if not bad and abs(d["issue_per_s"] / d["raw_sign_per_s_jobs_sessions"] - d["ratio_vs_raw_jobs_sessions"]) > 1e-6:
    bad.append("ratio is not issuance / raw")
if d.get("count") != 300 or d.get("jobs") != 2 or d.get("token") != "hsmca":
    bad.append("count/jobs/token = %r/%r/%r" % (d.get("count"), d.get("jobs"), d.get("token")))
if bad:
    sys.exit("; ".join(bad))
print("TPM bench (2 sessions): raw %.0f/s, issuance %.0f/s, ratio %.2f" % (
    d["raw_sign_per_s_jobs_sessions"], d["issue_per_s"], d["ratio_vs_raw_jobs_sessions"]), file=sys.stderr)
EOF
cat "$IT_ERR" >&2

it_assert_eq "$keys_before" "$(labels)" "every throwaway TPM bench key was destroyed"
it_assert_eq "" "$(ls -A "$TMPDIR")" "bench scratch directories removed"

# --- batch issuance, two workers ---------------------------------------------
mkdir csrs out
for i in $(seq 1 40); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=batch-$i" -out "csrs/batch-$i.csr" 2>/dev/null
done
it_ok "$HSMCA" issue root --profile client --csr-dir csrs --out-dir out --jobs 2 >/dev/null
it_assert_eq 40 "$(find out -name '*.crt' | wc -l | tr -d ' ')" "batch: 40 certificates written"
"$HSMCA" ca show root --pem >root.pem
bad=0
for crt in out/*.crt; do
	openssl verify -purpose sslclient -CAfile root.pem "$crt" >/dev/null 2>&1 || bad=$((bad + 1))
	"$HSMCA_GO_VERIFY" --roots root.pem --eku client "$crt" >/dev/null 2>&1 || bad=$((bad + 1))
done
it_assert_eq 0 "$bad" "batch: every certificate verifies with openssl and Go"
it_assert_eq 40 "$("$HSMCA" --json certs list root | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
	"batch: 40 certificates recorded"
it_ok "$HSMCA" audit verify >/dev/null
it_summary
