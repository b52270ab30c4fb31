#!/usr/bin/env bash
# Compare hsmca's issuance rate with the per-process OpenSSL loop on the SAME
# SoftHSM2 token and the same kind of CA key (issue 3, "Speed"):
#
#   openssl x509 -req -in csr.pem -CA ca.pem -CAkeyform engine -engine pkcs11 \
#       -CAkey 'pkcs11:token=hsmca;object=<label>;type=private' -passin file:PIN \
#       -days 30 -out /dev/null
#
# run N times (one process, one token login per certificate — what a shell
# script around openssl does), then `hsmca bench issue --count M`, and print
# both rates and their ratio. Numbers only; nothing is asserted (machines and
# load differ — compare ratios measured in one run, reference/performance.md).
#
# usage: scripts/bench-openssl-loop.sh [--count N] [--bench-count M] [--jobs J]
#                                      [--hsmca PATH] [--keep]
#   --count N        openssl loop iterations (default 100)
#   --bench-count M  certificates for `hsmca bench issue` (default 20000)
#   --jobs J         sessions for `hsmca bench issue` (default 1)
#   --hsmca PATH     the hsmca binary (default: $HSMCA, else hsmca in PATH)
#   --keep           keep the scratch directory
#
# Needs: softhsm2, libengine-pkcs11-openssl (libp11 0.4.12's engine "pkcs11").
# The token holds only EC keys: libp11 0.4.12 cannot enumerate a token that
# holds an Ed25519 key (reference/tokens.md).
set -euo pipefail

COUNT=100
BENCH_COUNT=20000
JOBS=1
KEEP=0
HSMCA_BIN=${HSMCA:-}
SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so

usage() {
	sed -n '/^# usage:/,/^# Needs:/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
while (($#)); do
	case $1 in
	--count) COUNT=${2:?}; shift 2 ;;
	--bench-count) BENCH_COUNT=${2:?}; shift 2 ;;
	--jobs) JOBS=${2:?}; shift 2 ;;
	--hsmca) HSMCA_BIN=${2:?}; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) printf 'bench-openssl-loop: unknown option %s\n' "$1" >&2; usage ;;
	esac
done
[[ $COUNT =~ ^[1-9][0-9]*$ && $BENCH_COUNT =~ ^[1-9][0-9]*$ && $JOBS =~ ^[1-9][0-9]*$ ]] ||
	{ printf 'bench-openssl-loop: --count, --bench-count and --jobs take positive integers\n' >&2; exit 2; }
if [[ -z $HSMCA_BIN ]]; then
	HSMCA_BIN=$(command -v hsmca || true)
fi
[[ -x $HSMCA_BIN ]] || { printf 'bench-openssl-loop: no hsmca binary (give --hsmca PATH or set HSMCA)\n' >&2; exit 2; }
ENGINE_DIR=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')
[[ -f $ENGINE_DIR/pkcs11.so ]] || { printf 'bench-openssl-loop: no pkcs11 engine in %s (apt-get install libengine-pkcs11-openssl)\n' "$ENGINE_DIR" >&2; exit 2; }
[[ -f $SOFTHSM_MODULE ]] || { printf 'bench-openssl-loop: %s missing (apt-get install softhsm2)\n' "$SOFTHSM_MODULE" >&2; exit 2; }

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/hsmca-bench-loop.XXXXXXXX")
cleanup() {
	if ((KEEP)); then
		printf 'kept %s\n' "$SCRATCH" >&2
	else
		rm -rf -- "$SCRATCH"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
H=$SCRATCH/home
LABEL=loop-ca-key

now() { date +%s.%N; }

printf '== setup (scratch %s)\n' "$SCRATCH"
"$HSMCA_BIN" --home "$H" -q init --softhsm >/dev/null
# `ca init` generates the CA key in the token itself (it does not adopt a
# key made by `hsmca key generate`); --label fixes the name the engine uses.
"$HSMCA_BIN" --home "$H" -q ca init loop --key-type ec-p256 --label "$LABEL" \
	--subject "CN=Loop Bench CA,O=hsmca bench" >/dev/null
CA=$H/cas/loop/ca.pem
PIN_FILE=$H/pins/user.pin
# The token URI of the state directory ("pkcs11:token=hsmca" for --softhsm).
TOKEN=$(sed -n 's/^token:.*token=\([^;"]*\).*$/\1/p' "$H/hsmca.yaml" | head -1)
TOKEN=${TOKEN:-hsmca}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$SCRATCH/leaf.key" \
	-subj "/CN=loop-leaf" -out "$SCRATCH/csr.pem" 2>/dev/null

export SOFTHSM2_CONF=$H/softhsm2.conf
# libp11's engine loads this module instead of p11-kit's proxy (which would
# initialise every registered module).
export PKCS11_MODULE_PATH=$SOFTHSM_MODULE
KEY_URI="pkcs11:token=$TOKEN;object=$LABEL;type=private"
one() {
	openssl x509 -req -in "$SCRATCH/csr.pem" -CA "$CA" -CAkeyform engine -engine pkcs11 \
		-CAkey "$KEY_URI" -passin "file:$PIN_FILE" -days 30 -set_serial "$1" "${@:2}" \
		</dev/null 2>"$SCRATCH/openssl.err"
}
# One certificate first, kept and verified: proves the loop really signs in
# the token with the CA key.
if ! one 1 -out "$SCRATCH/probe.pem"; then
	printf 'bench-openssl-loop: the openssl engine loop does not work here:\n' >&2
	cat "$SCRATCH/openssl.err" >&2
	exit 1
fi
openssl verify -CAfile "$CA" "$SCRATCH/probe.pem" >/dev/null ||
	{ printf 'bench-openssl-loop: the probe certificate does not verify\n' >&2; exit 1; }
printf 'openssl loop probe:      %s (signed in the token, verifies against the CA)\n' \
	"$(openssl x509 -in "$SCRATCH/probe.pem" -noout -subject)"

printf '== openssl x509 -req -engine pkcs11, one process per certificate, %d runs\n' "$COUNT"
t0=$(now)
for ((i = 0; i < COUNT; i++)); do
	one "$((i + 2))" -out /dev/null || { cat "$SCRATCH/openssl.err" >&2; exit 1; }
done
t1=$(now)
LOOP_RATE=$(awk -v n="$COUNT" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
printf 'openssl loop:            %8s certs/s  (%d certificates in %.2fs)\n' "$LOOP_RATE" "$COUNT" \
	"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"

printf '== hsmca bench issue --count %d --jobs %d (same token, same key type)\n' "$BENCH_COUNT" "$JOBS"
unset PKCS11_MODULE_PATH
"$HSMCA_BIN" --home "$H" --json bench issue --count "$BENCH_COUNT" --jobs "$JOBS" \
	--key-type ec-p256 >"$SCRATCH/bench.json" 2>"$SCRATCH/bench.err" ||
	{ cat "$SCRATCH/bench.err" >&2; exit 1; }
read -r RAW ISSUE RATIO RSS < <(/usr/bin/python3 - "$SCRATCH/bench.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("%.0f %.0f %.2f %.1f" % (d["raw_sign_per_s_1_session"], d["issue_per_s"],
                               d["ratio_vs_raw_1_session"], d["peak_rss_kb"] / 1024.0))
EOF
)
printf 'raw C_Sign, 1 session:   %8s /s\n' "$RAW"
printf 'hsmca issuance:          %8s certs/s  (%d certificates, %d session(s))\n' "$ISSUE" "$BENCH_COUNT" "$JOBS"
printf 'hsmca / raw C_Sign:      %8s\n' "$RATIO"
printf 'hsmca peak RSS:          %8s MB\n' "$RSS"
printf '== result\n'
printf 'openssl loop %s certs/s, hsmca %s certs/s: hsmca / openssl-loop = %s\n' "$LOOP_RATE" "$ISSUE" \
	"$(awk -v a="$ISSUE" -v b="$LOOP_RATE" 'BEGIN { printf "%.0f", a / b }')"
