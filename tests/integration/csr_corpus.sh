#!/usr/bin/env bash
# Issue 10, items 1 and 2: a corpus of malformed and valid CSRs
# (tests/corpus/csr/gen_corpus.py, hand-built DER, keys made now) through
# `hsmca sign` and through batch `hsmca issue` under the permissive `client`
# profile.  Every good request is issued (and Go's crypto/x509 accepts the
# certificates); every bad one is refused with exit 1 and its own reason —
# in a batch too, where each bad request comes after good ones — and leaves
# no record and no audit event.  The two-BIT-STRING key and the key with 7
# unused bits are refused wherever they sit in a batch.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Corpus Root" >/dev/null
ROOT=$HSMCA_HOME/cas/root/ca.pem
RECORDS=$HSMCA_HOME/cas/root/issued.jsonl
AUDIT=$HSMCA_HOME/audit.log
records() { if [[ -f $RECORDS ]]; then wc -l <"$RECORDS"; else echo 0; fi; }
sign_events() { grep -c '"event":"sign"' "$AUDIT" || true; }

it_ok "$IT_PYTHON" "$HSMCA_TEST_SRCDIR/tests/corpus/csr/gen_corpus.py" corpus
n_good=$(awk -F'\t' '$2 == "ok"' corpus/MANIFEST | wc -l)
n_bad=$(awk -F'\t' '$2 == "refuse"' corpus/MANIFEST | wc -l)
if ((n_good >= 10 && n_bad >= 60)); then
	it_pass "corpus: $n_good valid and $n_bad malformed requests"
else
	it_fail "corpus too small: $n_good valid, $n_bad malformed" || true
fi

# --- sign, one by one ------------------------------------------------------------
mkdir signed
while IFS=$'\t' read -r file expect why; do
	rec=$(records) ev=$(sign_events)
	rc=0
	"$HSMCA" sign root --csr "corpus/$file" --profile client --out "signed/$file.crt" \
		>"$IT_OUT" 2>"$IT_ERR" || rc=$?
	if grep -q -e 'AddressSanitizer' -e 'runtime error' "$IT_ERR"; then
		it_fail "sign $file: sanitizer report: $(head -c 400 "$IT_ERR")" || true
	fi
	if [[ $expect == ok ]]; then
		if ((rc == 0)) && [[ -s signed/$file.crt ]] && ((rec + 1 == $(records))); then
			it_pass "sign issues valid $file"
		else
			it_fail "sign $file: valid request refused (exit $rc): $(tail -n 1 "$IT_ERR")" || true
		fi
		continue
	fi
	if ((rc == 1)) && grep -qF -- "$why" "$IT_ERR" && [[ ! -e signed/$file.crt ]] &&
		[[ $rec == "$(records)" && $ev == "$(sign_events)" ]]; then
		it_pass "sign refuses $file: $why"
	else
		it_fail "sign $file: exit $rc, expected 1 naming '$why', nothing recorded (records $rec -> $(records)): $(tail -n 1 "$IT_ERR")" || true
	fi
done <corpus/MANIFEST

# Go's crypto/x509 (Kubernetes, Talos) accepts what was issued, including
# the SAN-only certificate with an empty subject.
for crt in signed/*.crt; do
	if "$HSMCA_GO_VERIFY" --roots "$ROOT" --eku client "$crt" >"$IT_OUT" 2>"$IT_ERR"; then
		it_pass "Go verifies $crt"
	else
		it_fail "Go refuses $crt: $(cat "$IT_ERR")" || true
	fi
done

# --- issue: every bad request after good ones -------------------------------------
# a-*: the valid requests; z-*: the malformed ones, so each comes after good
# ones in the batch's (sorted) order.  Each must be refused by name with its
# reason; exactly the good ones issued, recorded and audited.
batch() { # DIR OUTDIR JOBS
	local dir=$1 out=$2 jobs=$3 rec ev rc=0 file expect why
	rec=$(records) ev=$(sign_events)
	"$HSMCA" issue root --profile client --csr-dir "$dir" --out-dir "$out" --jobs "$jobs" \
		>"$IT_OUT" 2>"$IT_ERR" || rc=$?
	if grep -q -e 'AddressSanitizer' -e 'runtime error' "$IT_ERR"; then
		it_fail "issue $dir: sanitizer report" || true
	fi
	if ((rc == 1)); then
		it_pass "issue $dir (--jobs $jobs): exit 1 (some refused)"
	else
		it_fail "issue $dir (--jobs $jobs): exit $rc, expected 1" || true
	fi
	while IFS=$'\t' read -r file expect why; do
		if [[ $expect == ok ]]; then
			[[ -e $dir/a-$file ]] || continue
			if [[ -s $out/a-${file%.*}.crt ]]; then
				it_pass "issue ($jobs) issues a-$file"
			else
				it_fail "issue ($jobs): no certificate for valid a-$file" || true
			fi
			continue
		fi
		[[ -e $dir/z-$file ]] || continue
		if grep -F "z-$file refused: " "$IT_ERR" | grep -qF -- "$why" && [[ ! -e $out/z-${file%.*}.crt ]]; then
			it_pass "issue ($jobs) refuses z-$file: $why"
		else
			it_fail "issue ($jobs): z-$file not refused with '$why': $(grep -F "z-$file" "$IT_ERR" || echo "(no line)")" || true
		fi
	done <corpus/MANIFEST
	local issued
	issued=$(find "$out" -name '*.crt' | wc -l)
	it_assert_eq "$((rec + issued))" "$(records)" "issue $dir ($jobs): one record per certificate written" || true
	it_assert_eq "$((ev + issued))" "$(sign_events)" "issue $dir ($jobs): one sign event per record" || true
}
mkdir batch
while IFS=$'\t' read -r file expect why; do
	# The empty file is refused by the CLI before the engine sees it: kept.
	if [[ $expect == ok ]]; then cp "corpus/$file" "batch/a-$file"; else cp "corpus/$file" "batch/z-$file"; fi
done <corpus/MANIFEST
batch batch out1 1
batch batch out2 2

# --- the two keys that fooled the batch, wherever they sit ---------------------------
for bad in spki-two-bitstrings.der spki-unused-7.der; do
	for pos in first middle last; do
		d=pos-${bad%.der}-$pos
		mkdir "$d"
		case $pos in
		first) cp "corpus/$bad" "$d/0-bad.der"; cp corpus/good-p256.der "$d/1.der"; cp corpus/good-ed25519.der "$d/2.der" ;;
		middle) cp corpus/good-p256.der "$d/0.der"; cp "corpus/$bad" "$d/1-bad.der"; cp corpus/good-ed25519.der "$d/2.der" ;;
		last) cp corpus/good-p256.der "$d/0.der"; cp corpus/good-ed25519.der "$d/1.der"; cp "corpus/$bad" "$d/2-bad.der" ;;
		esac
		rec=$(records)
		rc=0
		"$HSMCA" issue root --profile client --csr-dir "$d" --out-dir "$d.out" >"$IT_OUT" 2>"$IT_ERR" || rc=$?
		n=$(find "$d.out" -name '*-bad.crt' | wc -l)
		if ((rc == 1 && n == 0)) && grep -q -- "-bad.der refused: " "$IT_ERR" && ((rec + 2 == $(records))); then
			it_pass "issue refuses $bad placed $pos, issues the two good ones"
		else
			it_fail "issue with $bad placed $pos: exit $rc, $n bad certificates, records $rec -> $(records): $(cat "$IT_ERR")" || true
		fi
	done
done

it_ok "$HSMCA" audit verify >/dev/null
it_summary
