#!/usr/bin/env bash
# Issue 2, "What it must show" item 3: `hsmca ca init` for ec-p256, ec-p384,
# ed25519, rsa-3072 (PKCS#1 v1.5 and PSS) and rsa-4096 makes a root that three
# independent verifiers accept — OpenSSL (`verify -x509_strict
# -check_ss_sig`), GnuTLS (`certtool --verify`) and Go crypto/x509 (the parser
# Talos and Kubernetes use) — and whose fields are what RFC 5280 and the
# flags ask for: v3, CA:TRUE critical, keyUsage exactly keyCertSign+cRLSign
# critical, positive serial of at least 16 bytes, SKI = SHA-1 of the key,
# validity 10 years by default, --validity / --not-after / --path-len /
# --subject honoured, and the certified key is the one in the token.
# A tampered root is refused by all three (so the checks can fail).  Then a
# ceremony from a YAML file, including outputs.certificate.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
it_ok "$HSMCA" init --softhsm >/dev/null

# The fields of `x509verify --show` as NAME=VALUE lines, plus derived ones:
# validity (seconds), serial_bytes, serial_positive, ext_<oid>=critical|noncritical.
show_fields() {
	"$HSMCA_GO_VERIFY" --show "$1" | /usr/bin/python3 -c '
import json, sys
from datetime import datetime
c = json.load(sys.stdin)
t = lambda s: datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
out = {k: c[k] for k in ("subject", "issuer", "version", "isCA", "basicConstraintsValid",
       "maxPathLen", "signatureAlgorithm", "publicKey", "subjectKeyId", "authorityKeyId", "selfSigned")}
out["keyUsage"] = ",".join(c["keyUsage"])
out["extKeyUsage"] = ",".join(c["extKeyUsage"])
out["validity"] = int((t(c["notAfter"]) - t(c["notBefore"])).total_seconds())
out["notBefore_epoch"] = int((t(c["notBefore"]) - datetime(1970, 1, 1)).total_seconds())
out["notAfter"] = c["notAfter"]
out["serial_positive"] = not c["serial"].startswith("-")
out["serial_bytes"] = (len(c["serial"].lstrip("-")) + 1) // 2
out["serial"] = c["serial"]
out["extensions"] = ",".join(e["oid"] + ("!" if e["critical"] else "") for e in c["extensions"])
for k, v in out.items():
    print("%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v))
'
}
get() { printf '%s\n' "$1" | sed -n "s/^$2=//p"; }

# SHA-1 of the subjectPublicKey BIT STRING of a certificate (RFC 5280 4.2.1.2 (1)).
spki_sha1() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | /usr/bin/python3 -c '
import hashlib, sys
d = sys.stdin.buffer.read()
def tlv(b, i):
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, n
tag, i, n = tlv(d, 0)            # SubjectPublicKeyInfo
tag, j, m = tlv(d, i)            # AlgorithmIdentifier
tag, k, bl = tlv(d, j + m)       # BIT STRING
assert tag == 0x03 and d[k] == 0
print(hashlib.sha1(d[k + 1:k + bl]).hexdigest())
'
}
spki_sha256() {
	openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum |
		cut -d' ' -f1 | tr a-f A-F | sed 's/../&:/g; s/:$//'
}

# verify_all NAME PEM: the three verifiers accept the root.
verify_all() {
	local name=$1 pem=$2 out
	out=$(it_ok openssl verify -x509_strict -check_ss_sig -CAfile "$pem" "$pem")
	it_assert_eq "$pem: OK" "$out" "$name: openssl verify -x509_strict -check_ss_sig"
	out=$(it_ok certtool --verify-profile=medium --verify --load-ca-certificate "$pem" --infile "$pem")
	it_assert_contains "$out" "Chain verification output: Verified." "$name: GnuTLS certtool --verify"
	out=$(it_ok "$HSMCA_GO_VERIFY" --check-self-signed "$pem")
	it_assert_contains "$out" "OK: " "$name: Go --check-self-signed"
	out=$(it_ok "$HSMCA_GO_VERIFY" --roots "$pem" "$pem")
	it_assert_contains "$out" "OK: " "$name: Go verifies the root against itself as trust anchor"
}

TEN_YEARS=$((3650 * 86400))
# name | key type | extra flags | subject given | subject as Go prints it |
# Go signatureAlgorithm | Go publicKey | maxPathLen | validity seconds
CASES=(
	"r-p256|ec-p256||CN=Root P-256,O=Example|CN=Root P-256,O=Example|ECDSA-SHA256|ECDSA P-256|-1|$TEN_YEARS"
	"r-p384|ec-p384|--path-len 0|CN=Root P-384,OU=Ops,O=Example,C=DE|CN=Root P-384,OU=Ops,O=Example,C=DE|ECDSA-SHA384|ECDSA P-384|0|$TEN_YEARS"
	"r-ed|ed25519|--validity 5y|CN=Talos Root,O=Example\\, Inc|CN=Talos Root,O=Example\\, Inc|Ed25519|Ed25519|-1|$((5 * 365 * 86400))"
	"r-rsa3|rsa-3072|--path-len 2 --validity 3650d|CN=Root RSA 3072|CN=Root RSA 3072|SHA256-RSA|RSA 3072|2|$TEN_YEARS"
	"r-pss|rsa-3072|--rsa-pss --validity 90d|CN=Root PSS,O=Example|CN=Root PSS,O=Example|SHA256-RSAPSS|RSA 3072|-1|$((90 * 86400))"
	"r-rsa4|rsa-4096|--hash sha384|CN=Root RSA 4096,O=Example|CN=Root RSA 4096,O=Example|SHA384-RSA|RSA 4096|-1|$TEN_YEARS"
)

declare -A SERIALS=()
for c in "${CASES[@]}"; do
	IFS='|' read -r name kt extra subj gosubj goalg gokey pathlen validity <<<"$c"
	# shellcheck disable=SC2086 # $extra is a list of flags
	it_ok "$HSMCA" ca init "$name" --key-type "$kt" --subject "$subj" $extra >/dev/null
	now=$(date -u +%s)
	pem=$WORK/$name.pem
	"$HSMCA" ca show "$name" --pem >"$pem" 2>/dev/null
	it_assert_eq "$(cat "$HSMCA_HOME/cas/$name/ca.pem")" "$(cat "$pem")" "$name: ca show --pem is cas/$name/ca.pem"
	verify_all "$name" "$pem"

	f=$(show_fields "$pem")
	it_assert_eq "$gosubj" "$(get "$f" subject)" "$name: subject as given"
	it_assert_eq "$gosubj" "$(get "$f" issuer)" "$name: issuer = subject"
	it_assert_eq 3 "$(get "$f" version)" "$name: X.509 v3"
	it_assert_eq true "$(get "$f" selfSigned)" "$name: self-signed"
	it_assert_eq true "$(get "$f" isCA)" "$name: basicConstraints CA:TRUE"
	it_assert_eq true "$(get "$f" basicConstraintsValid)" "$name: basicConstraints present"
	it_assert_eq "$pathlen" "$(get "$f" maxPathLen)" "$name: pathLenConstraint"
	it_assert_eq "keyCertSign,cRLSign" "$(get "$f" keyUsage)" "$name: keyUsage exactly keyCertSign+cRLSign"
	it_assert_eq "" "$(get "$f" extKeyUsage)" "$name: no extKeyUsage"
	# basicConstraints and keyUsage critical, SKI not critical; nothing else.
	it_assert_eq "2.5.29.19!,2.5.29.15!,2.5.29.14" "$(get "$f" extensions)" \
		"$name: extensions (critical marked !)"
	it_assert_eq "$goalg" "$(get "$f" signatureAlgorithm)" "$name: signature algorithm"
	it_assert_eq "$gokey" "$(get "$f" publicKey)" "$name: public key"
	it_assert_eq true "$(get "$f" serial_positive)" "$name: serial positive"
	sb=$(get "$f" serial_bytes)
	((sb >= 16 && sb <= 20)) && it_pass "$name: serial has $sb bytes (16..20)" ||
		it_fail "$name: serial has $sb bytes"
	SERIALS[$(get "$f" serial)]=$name
	it_assert_eq "$(spki_sha1 "$pem")" "$(get "$f" subjectKeyId)" "$name: SKI = SHA-1 of the public key"
	it_assert_eq "$validity" "$(get "$f" validity)" "$name: validity $validity s"
	nb=$(get "$f" notBefore_epoch)
	((nb <= now && nb >= now - 300)) && it_pass "$name: notBefore is the ceremony time" ||
		it_fail "$name: notBefore $nb is not the ceremony time ($now)"

	# The certificate certifies the key that is in the token, and the key is
	# proven non-extractable.
	kj=$(it_ok "$HSMCA" --json key show "$name-key")
	it_assert_eq "$(spki_sha256 "$pem")" "$(printf '%s' "$kj" | /usr/bin/python3 -c \
		'import json,sys; print(json.load(sys.stdin)["public_key_sha256"])')" \
		"$name: the certified key is $name-key in the token"
	it_assert_eq "True True True False" "$(printf '%s' "$kj" | /usr/bin/python3 -c \
		'import json,sys; k=json.load(sys.stdin); print(k["always_sensitive"], k["never_extractable"], k["local"], k["extractable"])')" \
		"$name: its key is always sensitive, never extractable, local"
	cj=$(it_ok "$HSMCA" --json ca show "$name")
	it_assert_eq "$(openssl x509 -in "$pem" -noout -fingerprint -sha256 | cut -d= -f2)" \
		"$(printf '%s' "$cj" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256_fingerprint"])')" \
		"$name: ca show --json fingerprint"
done
it_assert_eq "${#CASES[@]}" "${#SERIALS[@]}" "every root has its own serial"

# --not-after: the end date is exact.
end=$(date -u -d '+2 years' +%Y-%m-%d)
it_ok "$HSMCA" ca init r-na --key-type ec-p256 --subject "CN=Not After" --not-after "$end" >/dev/null
"$HSMCA" ca show r-na --pem >"$WORK/r-na.pem" 2>/dev/null
verify_all r-na "$WORK/r-na.pem"
it_assert_eq "${end}T00:00:00Z" "$(get "$(show_fields "$WORK/r-na.pem")" notAfter)" "--not-after $end honoured"

# --- tampered roots are refused by every verifier ---
for name in r-p256 r-ed r-pss; do
	openssl x509 -in "$WORK/$name.pem" -outform DER -out "$WORK/$name.der"
	/usr/bin/python3 -c '
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
d[-1] ^= 0x01                     # last byte of the signature
open(p, "wb").write(d)' "$WORK/$name.der"
	openssl x509 -inform DER -in "$WORK/$name.der" -out "$WORK/$name.bad.pem"
	bad=$WORK/$name.bad.pem
	it_expect_fail 2 "certificate signature failure" openssl verify -x509_strict -check_ss_sig -CAfile "$bad" "$bad"
	rc=0
	certtool --verify-profile=medium --verify --load-ca-certificate "$bad" --infile "$bad" >"$WORK/ct.out" 2>&1 || rc=$?
	if ((rc != 0)) && ! grep -q "Chain verification output: Verified" "$WORK/ct.out"; then
		it_pass "$name: certtool refuses the tampered root"
	else
		it_fail "$name: certtool accepted the tampered root (rc $rc)"
	fi
	it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --check-self-signed "$bad"
	it_assert_contains "$(cat "$IT_OUT")" "FAIL:" "$name: Go refuses the tampered root"
done

# --- ceremony from a reviewed YAML file ---
mkdir -p "$WORK/ceremony/out"
nb=$(date -u -d yesterday +%Y-%m-%d)
na=$(date -u -d '+3 years' +%Y-%m-%d)
cat >"$WORK/ceremony/root.yaml" <<EOF
# Reviewed and signed off before the ceremony.
version: 1
ca:
  name: yaml-root
  subject: "CN=YAML Root,O=Example\\\\, Inc,C=DE"
key:
  type: ec-p384
  label: yaml-root-2026
validity:
  not_before: $nb
  not_after: $na
extensions:
  path_len: 1
signature:
  hash: sha384
outputs:
  certificate: out/root.pem
EOF
# Run from another directory: outputs.certificate is relative to the file.
mkdir -p "$WORK/elsewhere"
(cd "$WORK/elsewhere" && it_ok "$HSMCA" ca init --config ../ceremony/root.yaml >/dev/null)
out=$WORK/ceremony/out/root.pem
[[ -f "$out" ]] && it_pass "outputs.certificate written next to the ceremony file" ||
	it_fail "outputs.certificate $out missing"
[[ ! -e "$WORK/elsewhere/out" ]] && it_pass "nothing written relative to the working directory" ||
	it_fail "output written relative to the working directory"
it_assert_eq "$(cat "$HSMCA_HOME/cas/yaml-root/ca.pem")" "$(cat "$out")" "outputs.certificate is the CA certificate"
verify_all yaml-root "$out"
f=$(show_fields "$out")
it_assert_eq "CN=YAML Root,O=Example\\, Inc,C=DE" "$(get "$f" subject)" "yaml: subject"
it_assert_eq "ECDSA-SHA384" "$(get "$f" signatureAlgorithm)" "yaml: ECDSA-SHA384"
it_assert_eq "ECDSA P-384" "$(get "$f" publicKey)" "yaml: P-384 key"
it_assert_eq 1 "$(get "$f" maxPathLen)" "yaml: path_len 1"
it_assert_eq "keyCertSign,cRLSign" "$(get "$f" keyUsage)" "yaml: keyUsage"
it_assert_eq "${na}T00:00:00Z" "$(get "$f" notAfter)" "yaml: not_after"
it_assert_eq "$(date -u -d "$nb" +%s)" "$(get "$f" notBefore_epoch)" "yaml: not_before"
kj=$(it_ok "$HSMCA" --json key show yaml-root-2026)
it_assert_eq "$(spki_sha256 "$out")" "$(printf '%s' "$kj" | /usr/bin/python3 -c \
	'import json,sys; print(json.load(sys.stdin)["public_key_sha256"])')" "yaml: key.label names the certified key"
# NAME on the command line must agree with ca.name; other flags are refused.
it_expect_fail 2 "differs from ca.name" "$HSMCA" ca init other --config "$WORK/ceremony/root.yaml"
it_expect_fail 2 "drop the other ceremony flags" \
	"$HSMCA" ca init --config "$WORK/ceremony/root.yaml" --key-type ec-p256

# Every ceremony is in the audit log, and the log is intact.
n_cas=$((${#CASES[@]} + 2))
it_assert_eq "$n_cas" "$(grep '"event":"sign"' "$HSMCA_HOME/audit.log" | grep -c '"kind":"root-certificate"')" \
	"one root-certificate sign event per ceremony"
serial=$(get "$f" serial)
it_assert_contains "$(grep '"ca":"yaml-root"' "$HSMCA_HOME/audit.log" | grep '"event":"sign"')" \
	"\"serial\":\"$serial\"" "the sign event records the serial"
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "hash chain intact" "audit log intact after the ceremonies"
list=$(it_ok "$HSMCA" ca list)
for c in "${CASES[@]}" "r-na|" "yaml-root|"; do
	it_assert_contains "$list" "${c%%|*} " "ca list shows ${c%%|*}"
done
it_summary
