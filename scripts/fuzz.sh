#!/usr/bin/env bash
# Runs one libFuzzer campaign: scripts/fuzz.sh TARGET [SECONDS]
#
# Builds tests/fuzz/fuzz_TARGET.c with Debian clang, libFuzzer, ASan and
# UBSan into build/fuzz/, fuzzes with tests/fuzz/corpus/TARGET as the seed
# corpus and build/fuzz/work/TARGET as the scratch corpus (kept, so a campaign
# can go on in a later session), then merges what found new coverage back into
# the seed corpus (-merge=1) and prints executions and coverage.
#
# The run is niced: the machine is shared.  Extra libFuzzer flags may be given
# in FUZZ_ARGS (e.g. FUZZ_ARGS="-max_len=65536").  A dictionary from
# tests/fuzz/dict/ is used (yaml, json or pb by the input; else TARGET.dict
# if there is one).  Crashing inputs go to
# build/fuzz/crashes/TARGET/; the exit status is libFuzzer's (0 = no finding).
set -euo pipefail

usage() {
	echo "usage: scripts/fuzz.sh TARGET [SECONDS]   (targets: $(cd "$src/tests/fuzz" &&
		ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' '))" >&2
	exit 2
}

src=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] && [ $# -le 2 ] || usage
target=$1
seconds=${2:-60}
[ -f "$src/tests/fuzz/fuzz_$target.c" ] || usage
case $seconds in '' | *[!0-9]*) usage ;; esac

# clang and compiler-rt (which carries libFuzzer) from Debian.
need=()
for p in clang libclang-rt-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "fuzz.sh: missing packages; install them with: sudo apt-get install -y ${need[*]}" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

build=$src/build/fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
	# A build type of our own: -O1 keeps the fuzzer fast while asserts stay on.
	CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Fuzz \
		-DCMAKE_C_FLAGS_FUZZ="-O1 -g -fsanitize=fuzzer-no-link -Wno-unknown-warning-option -Wno-format-nonliteral" \
		-DHSMCA_SANITIZE=ON -DHSMCA_LIBFUZZER=ON >/dev/null
fi
nice -n 19 cmake --build "$build" --target "fuzz_$target" -j2 >"$build/build.log" 2>&1 || { tail -n 30 "$build/build.log" >&2; exit 1; }

corpus=$src/tests/fuzz/corpus/$target
work=$build/work/$target
crashes=$build/crashes/$target
mkdir -p "$corpus" "$work" "$crashes"
args=(-max_total_time="$seconds" -timeout=25 -print_final_stats=1
	-artifact_prefix="$crashes/")
case $target in
ytree | profile | ceremony | mconfig | talm | talosconfig | kubeconfig) dict=yaml ;;
kubeobj | kubewatch | records | audit | journal | tjournal) dict=json ;;
pb | grpc) dict=pb ;;
*) dict=$target ;;
esac
[ -f "$src/tests/fuzz/dict/$dict.dict" ] && args+=(-dict="$src/tests/fuzz/dict/$dict.dict")
# shellcheck disable=SC2206 # FUZZ_ARGS is a list of flags on purpose
args+=(${FUZZ_ARGS:-})

log=$build/work/$target.log
echo "==> fuzz_$target for ${seconds}s (log: $log)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
nice -n 19 "$build/tests/fuzz_$target" "${args[@]}" "$work" "$corpus" >"$log" 2>&1 || rc=$?

# Minimise: only inputs that add coverage over the seed corpus join it.
before=$(find "$corpus" -type f | wc -l)
nice -n 19 "$build/tests/fuzz_$target" -merge=1 -timeout=25 "$corpus" "$work" >"$log.merge" 2>&1 || true
after=$(find "$corpus" -type f | wc -l)

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
covline=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -n1 || true)
cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$covline")
ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$covline")
size=$(du -sk "$corpus" | cut -f1)
summary="$(date -u +%FT%TZ) fuzz_$target seconds=$seconds execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} ft=${ft:-?} corpus=$after files (${size} KB, +$((after - before))) rc=$rc"
echo "$summary"
echo "$summary" >>"$build/campaigns.log"
if [ "$rc" -ne 0 ]; then
	echo "fuzz.sh: fuzz_$target found a problem; see $log and $crashes/" >&2
	grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n5 >&2 || true
fi
exit "$rc"
