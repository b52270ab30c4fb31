#!/usr/bin/env bash
# `hsmca bench issue` works and reports what issue 3 asks for (raw C_Sign
# rate, issuance rate, their ratio, peak RSS) in text and JSON, with one and
# two sessions and each CSR key type; its throwaway key is destroyed and
# audited, and its scratch directory removed. NOT a performance test: the
# numbers are only checked to be positive and consistent with each other
# (scripts/bench-openssl-loop.sh and docs/performance.md are for figures).
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
mkdir tmp
export TMPDIR=$WORK/tmp
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Bench Smoke Root" >/dev/null
keys_before=$("$HSMCA" --json key list | "$IT_PYTHON" -c 'import json,sys; print(sorted(k["label"] for k in json.load(sys.stdin)))')
state_before=$(it_snapshot_dir "$HSMCA_HOME/cas")

# positive NAME VALUE: VALUE is a number > 0
positive() {
	if awk -v v="$2" 'BEGIN { exit !(v + 0 > 0 && v ~ /^[0-9.]+$/) }'; then
		it_pass "$1 = $2 > 0"
	else
		it_fail "$1 is not a positive number: '$2'"
	fi
}

# --- text output, one session ----------------------------------------------------
out=$(it_ok "$HSMCA" bench issue --count 500)
printf '%s\n' "$out" >bench1.txt
for line in "token:" "CA key:" "raw C_Sign, 1 session:" "issuance,  1 session :" \
	"ratio issuance / raw C_Sign (1 session):" "peak RSS:" "thread CPU per certificate:"; do
	it_assert_contains "$out" "$line" "bench text has '$line'"
done
raw1=$(sed -n 's/^raw C_Sign, 1 session: *\([0-9.]*\) \/s$/\1/p' bench1.txt)
rate=$(sed -n 's/^issuance, *1 session *: *\([0-9.]*\) certs\/s .*/\1/p' bench1.txt)
count=$(sed -n 's/^issuance.*(\([0-9]*\) certificates from .*/\1/p' bench1.txt)
ratio=$(sed -n 's/^ratio issuance \/ raw C_Sign (1 session): \([0-9.]*\).*$/\1/p' bench1.txt)
rss=$(sed -n 's/^peak RSS: *\([0-9.]*\) MB$/\1/p' bench1.txt)
positive "raw C_Sign rate" "$raw1"
positive "issuance rate" "$rate"
positive "ratio" "$ratio"
positive "peak RSS MB" "$rss"
it_assert_eq 500 "$count" "bench issued exactly --count certificates"
# The printed ratio is issuance / raw (to the 2 decimals printed).
if awk -v r="$rate" -v w="$raw1" -v q="$ratio" 'BEGIN { d = r / w - q; exit !(d < 0.02 && d > -0.02) }'; then
	it_pass "ratio = issuance / raw C_Sign"
else
	it_fail "ratio $ratio is not $rate / $raw1"
fi
it_assert_contains "$(cat "$IT_ERR")" "generating throwaway ec-p256 CA key" "bench says it makes a throwaway key"

# --- two sessions -------------------------------------------------------------------
out=$(it_ok "$HSMCA" bench issue --count 500 --jobs 2)
printf '%s\n' "$out" >bench2.txt
for line in "raw C_Sign, 1 session:" "raw C_Sign,  2 sessions:" "issuance,  2 sessions:" \
	"ratio issuance / raw C_Sign (1 session):" "ratio issuance / raw C_Sign (2 sessions):" "peak RSS:"; do
	it_assert_contains "$out" "$line" "bench --jobs 2 text has '$line'"
done
positive "raw C_Sign rate, 2 sessions" "$(sed -n 's/^raw C_Sign, *2 sessions: *\([0-9.]*\) \/s$/\1/p' bench2.txt)"
positive "issuance rate, 2 sessions" "$(sed -n 's/^issuance, *2 sessions: *\([0-9.]*\) certs\/s .*/\1/p' bench2.txt)"
it_assert_eq 500 "$(sed -n 's/^issuance.*(\([0-9]*\) certificates from .*/\1/p' bench2.txt)" \
	"bench --jobs 2 issued exactly --count certificates"

# --- JSON ----------------------------------------------------------------------------
# shellcheck disable=SC2317 # called through it_ok
check_json() { # FILE JOBS CSR_KEY KEY_TYPE COUNT
	"$IT_PYTHON" - "$@" <<'EOF'
import json, sys
path, jobs, csr_key, key_type, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
d = json.load(open(path))
bad = []
want = {"token", "key_type", "csr_key", "count", "jobs", "raw_sign_per_s_1_session", "issue_per_s",
        "ratio_vs_raw_1_session", "peak_rss_kb", "peak_rss_kb_before_issuance", "rounds",
        "round_ratio_min", "round_ratio_max"}
if jobs > 1:
    want |= {"raw_sign_per_s_jobs_sessions", "ratio_vs_raw_jobs_sessions"}
if set(d) != want:
    bad.append("keys %s, want %s" % (sorted(d), sorted(want)))
else:
    for k in ("raw_sign_per_s_1_session", "issue_per_s", "ratio_vs_raw_1_session", "peak_rss_kb"):
        if not (isinstance(d[k], (int, float)) and d[k] > 0):
            bad.append("%s = %r is not > 0" % (k, d[k]))
    if abs(d["issue_per_s"] / d["raw_sign_per_s_1_session"] - d["ratio_vs_raw_1_session"]) > 1e-6:
        bad.append("ratio is not issue / raw")
    if d["count"] != count or d["jobs"] != jobs or d["csr_key"] != csr_key or d["key_type"] != key_type:
        bad.append("count/jobs/csr_key/key_type = %r/%r/%r/%r" % (d["count"], d["jobs"], d["csr_key"], d["key_type"]))
    if d["peak_rss_kb"] < d["peak_rss_kb_before_issuance"]:
        bad.append("peak RSS went down")
if bad:
    sys.exit("; ".join(bad))
EOF
}
it_ok "$HSMCA" --json bench issue --count 500 >b1.json
it_ok check_json b1.json 1 ec-p256 ec-p256 500
it_ok "$HSMCA" --json bench issue --count 500 --jobs 2 >b2.json
it_ok check_json b2.json 2 ec-p256 ec-p256 500
# (--csr-key rsa-2048 works too, but makes 64 RSA keys first: too slow for a smoke test)
for ck in ec-p384 ed25519; do
	it_ok "$HSMCA" --json bench issue --count 100 --csr-key "$ck" >"b-$ck.json"
	it_ok check_json "b-$ck.json" 1 "$ck" ec-p256 100
done
it_ok "$HSMCA" --json bench issue --count 100 --key-type ec-p384 >b-p384ca.json
it_ok check_json b-p384ca.json 1 ec-p256 ec-p384 100

# From 5,000 certificates raw signing and issuance alternate in 5 rounds: every
# certificate is issued once, and the ratio over the sums lies between the
# per-round ratios (it is their weighted mean).
it_ok "$HSMCA" --json bench issue --count 5000 >b-rounds.json
it_ok check_json b-rounds.json 1 ec-p256 ec-p256 5000
"$IT_PYTHON" - b-rounds.json <<'EOF' && it_pass "5 alternating rounds; ratio within the per-round range" ||
import json, sys
d = json.load(open(sys.argv[1]))
assert d["rounds"] == 5, d["rounds"]
assert d["round_ratio_min"] - 1e-9 <= d["ratio_vs_raw_1_session"] <= d["round_ratio_max"] + 1e-9, d
EOF
	it_fail "rounds: $(cat b-rounds.json)"
text=$(it_ok "$HSMCA" bench issue --count 5000)
[[ "$text" == *"(5 alternating rounds; per round "* ]] && it_pass "text output names the rounds" ||
	it_fail "text output: $text"

# --- usage errors ------------------------------------------------------------------------
it_expect_fail 2 "--count" "$HSMCA" bench issue --count 99
it_expect_fail 2 "--count" "$HSMCA" bench issue --count lots
it_expect_fail 2 "--jobs" "$HSMCA" bench issue --jobs 0
it_expect_fail 2 "--csr-key" "$HSMCA" bench issue --csr-key ec-p521
it_expect_fail 2 "" "$HSMCA" bench issue --key-type dsa-1024
it_expect_fail 2 "unknown benchmark" "$HSMCA" bench sign

# --- it cleaned up after itself ---------------------------------------------------------
keys_after=$("$HSMCA" --json key list | "$IT_PYTHON" -c 'import json,sys; print(sorted(k["label"] for k in json.load(sys.stdin)))')
it_assert_eq "$keys_before" "$keys_after" "every throwaway bench key was destroyed"
it_assert_eq "" "$(ls -A "$TMPDIR")" "bench scratch directories removed"
it_assert_eq "$state_before" "$(it_snapshot_dir "$HSMCA_HOME/cas")" "bench touched no CA or its records"
gen=$(grep -c '"event":"generate".*"purpose":"benchmark"' "$HSMCA_HOME/audit.log" || true)
des=$(grep -c '"event":"destroy".*"purpose":"benchmark"' "$HSMCA_HOME/audit.log" || true)
it_assert_eq 9 "$gen" "9 benchmark key generations audited (one per successful run)"
it_assert_eq 9 "$des" "9 benchmark key destructions audited"
it_ok "$HSMCA" audit verify >/dev/null

it_summary
