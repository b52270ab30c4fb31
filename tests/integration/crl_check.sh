#!/usr/bin/env bash
# Revocation, CRLs and expiry checks through the CLI, on an embedded SoftHSM2
# token: certificates issued with `hsmca sign`, revoked with `hsmca revoke`,
# a CRL from `hsmca crl` checked by OpenSSL and Go's crypto/x509 (issue 3,
# items 4 and 5); `hsmca check` exit codes and its Prometheus textfile, with
# the clock moved by HSMCA_NOW and by faketime.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
PY=/usr/bin/python3
CADIR=$HSMCA_HOME/cas/root

# A strict reader of the Prometheus text exposition format (0.0.4): every
# line a HELP, a TYPE or a sample; a family's TYPE once, before its samples;
# a family's samples together; no series twice; label values escaped.
# Prints the samples as JSON: {"name": [[{labels}, value], ...]}.
cat >"$WORK/promparse.py" <<'EOF'
import json, re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LNAME = r'[a-zA-Z_][a-zA-Z0-9_]*'
LVAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
VALUE = r'(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)'
SAMPLE = re.compile(r'^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?\})? (%s)(?: -?[0-9]+)?$'
                    % (NAME, LNAME, LVAL, LNAME, LVAL, VALUE))
LABEL = re.compile(r'(%s)=(%s)' % (LNAME, LVAL))
HELP = re.compile(r'^# HELP (%s) (.*)$' % NAME)
TYPE = re.compile(r'^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$' % NAME)

def unescape(v):
    out, i = [], 1
    while i < len(v) - 1:
        if v[i] == '\\':
            out.append({'\\': '\\', '"': '"', 'n': '\n'}[v[i + 1]]); i += 2
        else:
            out.append(v[i]); i += 1
    return ''.join(out)

def fail(n, msg):
    sys.exit('line %d: %s' % (n, msg))

data = open(sys.argv[1], 'rb').read().decode('utf-8')
if not data.endswith('\n'):
    sys.exit('the last line has no newline')
typed, helped, closed, seen, out = {}, set(), set(), set(), {}
current = None
for n, line in enumerate(data[:-1].split('\n'), 1):
    m = HELP.match(line)
    if m:
        if m.group(1) in helped: fail(n, 'second HELP for ' + m.group(1))
        helped.add(m.group(1)); continue
    m = TYPE.match(line)
    if m:
        fam = m.group(1)
        if fam in typed: fail(n, 'second TYPE for ' + fam)
        if fam in out: fail(n, 'TYPE after samples of ' + fam)
        typed[fam] = m.group(2); continue
    if line.startswith('#'):
        fail(n, 'comment that is neither HELP nor TYPE')
    m = SAMPLE.match(line)
    if not m: fail(n, 'not a valid sample: %r' % line)
    fam = m.group(1)
    if fam not in typed: fail(n, 'sample of %s before its TYPE' % fam)
    if fam != current:
        if fam in closed: fail(n, 'samples of %s are not together' % fam)
        if current: closed.add(current)
        current = fam
    labels = {}
    if m.group(2):
        for lm in LABEL.finditer(m.group(2)):
            if lm.group(1) in labels: fail(n, 'label %s twice' % lm.group(1))
            labels[lm.group(1)] = unescape(lm.group(2))
    key = (fam, tuple(sorted(labels.items())))
    if key in seen: fail(n, 'series twice: %r' % (key,))
    seen.add(key)
    out.setdefault(fam, []).append([labels, float(m.group(3))])
print(json.dumps(out))
EOF
# The parser itself must refuse what is not Prometheus text.
printf 'foo{a="x"} 1\n' >"$WORK/bad1.prom"
printf '# TYPE foo gauge\nfoo{a="x} 1\n' >"$WORK/bad2.prom"
printf '# TYPE foo gauge\nfoo 1\n# TYPE bar gauge\nbar 1\nfoo{a="b"} 2\n' >"$WORK/bad3.prom"
printf '# TYPE foo gauge\nfoo{a="a\\q"} 1\n' >"$WORK/bad4.prom"
printf '# TYPE foo gauge\nfoo 1' >"$WORK/bad5.prom"
for b in 1 2 3 4 5; do
	if "$PY" "$WORK/promparse.py" "$WORK/bad$b.prom" >/dev/null 2>&1; then
		it_fail "the Prometheus parser accepted bad$b.prom"
	else
		it_pass "the Prometheus parser refuses bad$b.prom"
	fi
done

json_get() { # json_get EXPR: evaluate EXPR on the JSON on stdin (as `o`)
	"$PY" -c "import json,sys; o=json.load(sys.stdin); print($1)"
}

# --- usage errors need no state directory ---
it_expect_fail 2 "CA and SERIAL are required" "$HSMCA" revoke
it_expect_fail 2 "CA and SERIAL are required" "$HSMCA" revoke root
it_expect_fail 2 "not hexadecimal" "$HSMCA" revoke root xyz
it_expect_fail 2 "unknown revocation reason 'stolen'" "$HSMCA" revoke root 4a1f --reason stolen
it_expect_fail 2 "only for delta CRLs" "$HSMCA" revoke root 4a1f --reason removeFromCRL
it_expect_fail 2 "exactly one CA" "$HSMCA" crl
it_expect_fail 2 "--next-update" "$HSMCA" crl root --next-update soon
it_expect_fail 2 "unexpected argument" "$HSMCA" check extra
it_expect_fail 2 "--warn" "$HSMCA" check --warn 90
it_expect_fail 2 "unknown action" "$HSMCA" certs frob
it_expect_fail 3 "not an hsmca state directory" "$HSMCA" check # 3: could not run
it_expect_fail 1 "not an hsmca state directory" "$HSMCA" certs list

# --- a root and three client certificates ---
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=CRL Test Root,O=hsmca" \
	--validity 2y >/dev/null
it_ok "$HSMCA" ca show root --pem >ca.pem
ca_not_after=$("$HSMCA" --json ca show root | json_get 'o["not_after"]')

out=$(it_ok "$HSMCA" check)
it_assert_contains "$out" "nothing expires within 90d (1 CA, 0 certificates checked)" \
	"check on a fresh CA: nothing to report"

issue() { # issue NAME SUBJECT [sign options...]
	local name=$1 subj=$2
	shift 2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" \
		-subj "$subj" -out "$name.csr" 2>/dev/null
	it_ok "$HSMCA" sign root --csr "$name.csr" --profile client --out "$name.pem" "$@" >/dev/null
	openssl x509 -in "$name.pem" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'
}
s1=$(issue alice "/CN=alice/O=ops")
s2=$(issue bob "/CN=bob/O=ops")
s3=$(issue carol "/CN=carol/O=ops")

list=$(it_ok "$HSMCA" --json certs list root)
it_assert_eq 3 "$(printf '%s' "$list" | json_get 'len(o)')" "certs list shows 3 certificates"
it_assert_eq "valid valid valid" "$(printf '%s' "$list" | json_get '" ".join(c["status"] for c in o)')" \
	"all three are valid"
it_assert_eq "$s1" "$(printf '%s' "$list" | json_get 'o[0]["serial"]')" \
	"certs list gives the certificate's serial in lower-case hex"
it_assert_eq "CN=alice,O=ops client" "$(printf '%s' "$list" | json_get 'o[0]["subject"]+" "+o[0]["profile"]')" \
	"subject and profile recorded"

# --- revoke ---
out=$(it_ok "$HSMCA" revoke root "$s1" --reason key-compromise)
it_assert_contains "$out" "revoked $s1 of CA root" "revoke confirms the serial"
# openssl's colon form of the serial works too
s3_colon=$(printf '%s' "$s3" | sed 's/../&:/g; s/:$//' | tr 'a-f' 'A-F')
it_ok "$HSMCA" revoke root "$s3_colon" --reason superseded >/dev/null
it_expect_fail 1 "revoke $s1: already revoked since" "$HSMCA" revoke root "$s1"
it_expect_fail 1 "reason keyCompromise" "$HSMCA" revoke root "$s1" --reason superseded
it_expect_fail 1 "revoke 0123456789abcdef: no certificate with this serial was issued by this CA" \
	"$HSMCA" revoke root 0123456789abcdef
it_expect_fail 1 "no CA named 'other'" "$HSMCA" revoke other "$s2"
it_assert_eq 2 "$(wc -l <"$CADIR/revoked.jsonl")" "revoked.jsonl holds exactly the two revocations"
it_assert_eq 1 "$(grep '"event":"revoke"' "$HSMCA_HOME/audit.log" | grep '"outcome":"ok"' | grep -c "$s1")" \
	"the revocation is in the audit log"
it_assert_eq "revoked valid revoked" \
	"$("$HSMCA" --json certs list | json_get '" ".join(c["status"] for c in o)')" \
	"certs list (all CAs) shows the revocations"
out=$(it_ok "$HSMCA" certs list root)
it_assert_contains "$out" "$s2 valid" "text listing: bob is valid"

# --- the CRL ---
it_ok "$HSMCA" crl root --out crl.pem >/dev/null
it_assert_contains "$(cat "$IT_ERR")" "CRL number 1 for CA root: 2 revoked" "crl reports number and count"
it_ok openssl crl -in crl.pem -noout -verify -CAfile ca.pem >/dev/null
it_assert_contains "$(cat "$IT_ERR")" "verify OK" "openssl crl -verify accepts the CRL"
text=$(openssl crl -in crl.pem -noout -text)
S1U=$(printf '%s' "$s1" | tr 'a-f' 'A-F')
S3U=$(printf '%s' "$s3" | tr 'a-f' 'A-F')
it_assert_contains "$text" "Version 2" "CRL v2"
it_assert_contains "$text" "X509v3 CRL Number: 
                1" "CRL number 1"
it_assert_contains "$text" "X509v3 Authority Key Identifier" "CRL carries the AKI"
it_assert_contains "$text" "Serial Number: $S1U
        Revocation Date:" "alice's serial is listed"
it_assert_contains "$(printf '%s\n' "$text" | grep -A4 "Serial Number: $S1U")" "Key Compromise" \
	"alice is listed with reason keyCompromise"
it_assert_contains "$(printf '%s\n' "$text" | grep -A4 "Serial Number: $S3U")" "Superseded" \
	"carol is listed with reason superseded"
if printf '%s\n' "$text" | grep -q "$(printf '%s' "$s2" | tr 'a-f' 'A-F')"; then
	it_fail "bob (not revoked) is on the CRL"
else
	it_pass "bob (not revoked) is not on the CRL"
fi
aki=$(openssl x509 -in ca.pem -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
it_assert_contains "$text" "$aki" "the AKI is the CA's SKI"

# openssl verify exits 2 on a failed verification
if openssl verify -crl_check -CRLfile crl.pem -CAfile ca.pem alice.pem >"$WORK/v.out" 2>&1; then
	it_fail "openssl verify -crl_check accepted the revoked certificate"
else
	it_assert_contains "$(cat "$WORK/v.out")" "certificate revoked" \
		"openssl verify -crl_check rejects the revoked certificate"
fi
it_ok openssl verify -crl_check -CRLfile crl.pem -CAfile ca.pem bob.pem >/dev/null
# The Go verifier reports on stdout.
it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots ca.pem --eku client \
	--crl crl.pem --crl-issuer ca.pem alice.pem
it_assert_contains "$(cat "$IT_OUT")" "(serial $s1) is revoked since" "Go rejects the revoked certificate"
it_assert_contains "$(cat "$IT_OUT")" "reason keyCompromise (1)" "Go names the reason"
it_ok "$HSMCA_GO_VERIFY" --roots ca.pem --eku client --crl crl.pem --crl-issuer ca.pem bob.pem >/dev/null
show=$(it_ok "$HSMCA_GO_VERIFY" --show-crl crl.pem)
it_assert_eq "1 2" "$(printf '%s' "$show" | json_get 'o["number"], len(o["revoked"])' | tr -d '(),')" \
	"Go parses CRL number 1 with 2 entries"

# A second run: the number grows, to stdout this time.
it_ok "$HSMCA" crl root --next-update 1d >crl2.pem
it_assert_contains "$(openssl crl -in crl2.pem -noout -crlnumber)" "crlNumber=0x02" \
	"the second CRL is number 2"
next=$(openssl crl -in crl2.pem -noout -nextupdate | cut -d= -f2)
this=$(openssl crl -in crl2.pem -noout -lastupdate | cut -d= -f2)
it_assert_eq 86400 $(($(date -u -d "$next" +%s) - $(date -u -d "$this" +%s))) \
	"--next-update 1d gives nextUpdate = thisUpdate + 1 day"
it_assert_eq "2" "$(tr -d '\n' <"$CADIR/crlnumber")" "crlnumber holds 2"
# Two runs at once never share a number: while something holds the CA
# directory's lock, both runs wait (after logging in, one second apart:
# SoftHSM2 can refuse two simultaneous logins with CKR_GENERAL_ERROR, which
# is not what this checks), then both finish with different numbers.
flock "$CADIR" -c "touch '$WORK/locked'; sleep 3" &
holder=$!
it_register_pid "$holder"
it_wait_file "$WORK/locked" 10
"$HSMCA" crl root --out crl-a.pem 2>"$WORK/crl-a.err" &
pa=$!
sleep 1
"$HSMCA" crl root --out crl-b.pem 2>"$WORK/crl-b.err" &
pb=$!
it_register_pid "$pa" "$pb"
sleep 1
[[ ! -e crl-a.pem && ! -e crl-b.pem ]] && it_pass "crl waits for the CA directory lock" ||
	it_fail "crl wrote a CRL while the CA directory was locked"
wait "$holder" || true
if wait "$pa" && wait "$pb"; then
	it_pass "two concurrent crl runs succeed"
else
	it_fail "a concurrent crl run failed: $(cat "$WORK/crl-a.err" "$WORK/crl-b.err")"
fi
na=$(openssl crl -in crl-a.pem -noout -crlnumber)
nb=$(openssl crl -in crl-b.pem -noout -crlnumber)
it_assert_eq "crlNumber=0x03 crlNumber=0x04" "$(printf '%s\n%s\n' "$na" "$nb" | sort | tr '\n' ' ' | sed 's/ $//')" \
	"concurrent runs get numbers 3 and 4"
it_assert_eq 4 "$(grep '"event":"sign"' "$HSMCA_HOME/audit.log" | grep -c '"kind":"crl"')" \
	"every CRL signature is an audit event"
it_ok "$HSMCA" audit verify >/dev/null

# nextUpdate never runs past the CA: clamped with a note, refused once expired.
near=$(date -u -d "$ca_not_after - 3 days" +%Y-%m-%dT%H:%M:%SZ)
HSMCA_NOW=$near it_ok "$HSMCA" crl root --out crl-near.pem >/dev/null
it_assert_contains "$(cat "$IT_ERR")" "nextUpdate cut back to $ca_not_after" "the clamp is noted"
it_assert_eq "$(date -u -d "$ca_not_after" +%s)" \
	"$(date -u -d "$(openssl crl -in crl-near.pem -noout -nextupdate | cut -d= -f2)" +%s)" \
	"nextUpdate is the CA's notAfter"
before=$(cat "$CADIR/crlnumber")
HSMCA_NOW=$ca_not_after it_expect_fail 1 "expired" "$HSMCA" crl root --out crl-late.pem
it_assert_eq "$before" "$(cat "$CADIR/crlnumber")" "a refused CRL spends no number"
[[ ! -e crl-late.pem ]] && it_pass "no file from a refused CRL" || it_fail "crl-late.pem exists"
# A corrupt crlnumber is not taken as 0.
cp "$CADIR/crlnumber" "$WORK/crlnumber.good"
printf 'x\n' >"$CADIR/crlnumber"
it_expect_fail 1 "does not hold a CRL number" "$HSMCA" crl root --out crl-x.pem
cp "$WORK/crlnumber.good" "$CADIR/crlnumber"

# --- check ---
out=$(it_ok "$HSMCA" check)
it_assert_contains "$out" "nothing expires within 90d (1 CA, 1 certificate checked)" \
	"check: bob counts, revoked alice and carol do not"
s4=$(issue dave "/CN=dave \"the\" \\\\ admin/O=ops" --validity 10d)
it_expect_fail 1 "" "$HSMCA" check
# "in 10d", or "in 9d 23h" when a second passed since signing
it_assert_contains "$(cat "$IT_OUT")" "EXPIRES in " "check reports an expiring certificate"
it_assert_contains "$(cat "$IT_OUT")" ": certificate $s4 of CA root (profile client" \
	"check names the certificate inside the window"
it_ok "$HSMCA" check --warn 9d >/dev/null
it_expect_fail 1 "" "$HSMCA" check --warn 10d --json
it_assert_eq "certificate $s4 False" \
	"$(json_get '" ".join(str(x) for x in (o["expiring"][0]["kind"], o["expiring"][0]["serial"], o["expiring"][0]["expired"]))' <"$IT_OUT")" \
	"check --json lists the certificate"

# Metrics: written even when check exits 1; strict parse; values and escaping.
it_expect_fail 1 "" "$HSMCA" check --metrics "$WORK/hsmca.prom"
m=$(it_ok "$PY" "$WORK/promparse.py" "$WORK/hsmca.prom")
it_assert_eq "2 1 1" "$(printf '%s' "$m" | json_get 'len(o["hsmca_certificate_expiry_seconds"]), len(o["hsmca_ca_expiry_seconds"]), len(o["hsmca_check_timestamp_seconds"])' | tr -d '(),')" \
	"one sample per live certificate, one per CA, one timestamp"
dave_subject=$("$HSMCA" --json certs list | json_get '[c["subject"] for c in o if c["serial"]=="'"$s4"'"][0]')
it_assert_contains "$dave_subject" '\"the\" \\ admin' "dave's recorded subject keeps the quotes and backslash, RFC 4514-escaped"
it_assert_eq "$dave_subject|client|root" \
	"$(printf '%s' "$m" | json_get '"|".join([s for s in o["hsmca_certificate_expiry_seconds"] if s[0]["serial"]=="'"$s4"'"][0][0][k] for k in ("subject","profile","ca"))')" \
	"subject (quotes, backslash), profile and ca labels round-trip through the escaping"
secs=$(printf '%s' "$m" | json_get 'int([s for s in o["hsmca_certificate_expiry_seconds"] if s[0]["serial"]=="'"$s4"'"][0][1])')
((secs > 863000 && secs <= 864000)) && it_pass "dave's expiry is ~10d ($secs s)" ||
	it_fail "dave's expiry seconds: $secs"
it_assert_eq 1 "$(printf '%s' "$m" | json_get 'int(o["hsmca_check_expiring"][0][1])')" \
	"hsmca_check_expiring counts the finding"
grep -q '^# TYPE hsmca_certificate_expiry_seconds gauge$' "$WORK/hsmca.prom" &&
	grep -q '^# HELP hsmca_certificate_expiry_seconds ' "$WORK/hsmca.prom" &&
	it_pass "HELP and TYPE lines" || it_fail "HELP/TYPE lines missing"
it_assert_eq 644 "$(stat -c %a "$WORK/hsmca.prom")" "the textfile is world-readable (0644)"
ls -A "$WORK" | grep -q '^\.\?hsmca\.prom\..*' && it_fail "a temporary file was left" ||
	it_pass "no temporary file left beside the textfile"

# A subject with a newline (from the records; openssl req cannot make one).
"$PY" - "$CADIR/issued.jsonl" <<'EOF'
import json, sys
rec = {"serial": "7e" * 16, "subject": "CN=line1\nline2", "profile": "client",
       "not_before": "2020-01-01T00:00:00Z", "not_after": "2099-01-01T00:00:00Z",
       "issued_at": "2020-01-01T00:00:00Z", "csr_key_sha256": "00" * 32, "cert_sha256": "00" * 32}
open(sys.argv[1], "a").write(json.dumps(rec, separators=(",", ":")) + "\n")
EOF
# `check` exits 0 (nothing expires soon) or 1 (something does): either is an
# answer, anything else (a crash, a sanitizer's own code) is not.
rc=0
"$HSMCA" check --metrics "$WORK/hsmca.prom" >/dev/null 2>"$WORK/check.err" || rc=$?
[[ $rc == 0 || $rc == 1 ]] && [[ -s "$WORK/hsmca.prom" ]] &&
	it_pass "check --metrics exits $rc and writes the textfile" ||
	it_fail "check --metrics exited $rc: $(cat "$WORK/check.err")"
m=$(it_ok "$PY" "$WORK/promparse.py" "$WORK/hsmca.prom")
it_assert_eq "CN=line1|line2" "$(printf '%s' "$m" | json_get '[s for s in o["hsmca_certificate_expiry_seconds"] if s[0]["serial"]=="7e"*16][0][0]["subject"].replace(chr(10),"|")')" \
	"a newline in a label value is escaped and parses back"
grep -qF 'subject="CN=line1\nline2"' "$WORK/hsmca.prom" && it_pass "newline written as \\n" ||
	it_fail "newline not escaped"

# Moving the clock: HSMCA_NOW and faketime.  Under AddressSanitizer the
# LD_PRELOADed libfaketime must be allowed ahead of the ASan runtime.
ft() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" faketime "$@"
}
later=$(date -u -d "+20 days" +%Y-%m-%dT%H:%M:%SZ)
HSMCA_NOW=$later it_expect_fail 1 "" "$HSMCA" check --warn 1d
it_assert_contains "$(cat "$IT_OUT")" "EXPIRED 10d" "20 days on (HSMCA_NOW), dave has expired"
it_expect_fail 1 "" ft "$(date -u -d '+20 days' '+%Y-%m-%d %H:%M:%S')" "$HSMCA" check --warn 1d
it_assert_contains "$(cat "$IT_OUT")" "EXPIRED 10d" "the same under faketime"
out=$(it_ok ft "$(date -u -d '+50 days' '+%Y-%m-%d %H:%M:%S')" "$HSMCA" check --warn 1d)
it_assert_contains "$out" "nothing expires" "more than --grace (30d) after expiry it is history"
HSMCA_NOW=$later it_ok "$HSMCA" check --warn 1d --grace 5d >/dev/null
# The CA itself inside the window.
HSMCA_NOW=$near it_expect_fail 1 "" "$HSMCA" check --warn 5d
it_assert_contains "$(cat "$IT_OUT")" "EXPIRES in 3d: CA root (CN=CRL Test Root,O=hsmca)" \
	"check names the CA near its notAfter"

# A renewal supersedes: same subject and profile, a later notAfter.
s5=$(issue dave2 "/CN=dave \"the\" \\\\ admin/O=ops")
out=$(it_ok "$HSMCA" check)
it_assert_contains "$out" "nothing expires within 90d" "renewed dave no longer alerts"
it_expect_fail 1 "" "$HSMCA" check --all
it_assert_contains "$(cat "$IT_OUT")" "$s4" "--all still shows the renewed one"
[[ "$s5" != "$s4" ]] && it_pass "the renewal has a new serial" || it_fail "serial reused"

it_ok "$HSMCA" audit verify >/dev/null
it_summary
