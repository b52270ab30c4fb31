#!/usr/bin/env bash
# Self-test of the Go crypto/x509 verifier ($HSMCA_GO_VERIFY) on certificates
# made with the openssl CLI: it must say OK to a good chain and FAIL, with the
# reason, to every broken one. Other tests rely on both answers.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA_GO_VERIFY:?path of the x509verify binary}"
V=$HSMCA_GO_VERIFY

it_setup
cd "$WORK"

# --- a PKI made with openssl: root -> intermediate -> server/client leaves ---
cat >ext.cnf <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:node1.example.test, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

make_root() { # name subject keyalg...
	local name=$1 subj=$2
	shift 2
	openssl genpkey -quiet "$@" -out "$name.key"
	openssl req -new -x509 -key "$name.key" -subj "$subj" -days 3650 \
		-set_serial 1 -config ext.cnf -extensions ca -out "$name.pem"
}

issue() { # name subject section issuer serial days
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
	openssl req -new -key "$1.key" -subj "$2" -config ext.cnf -out "$1.csr"
	openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -set_serial "$5" \
		-days "$6" -extfile ext.cnf -extensions "$3" -out "$1.pem" 2>/dev/null
}

make_root root "/O=hsmca-test/CN=Test Root" -algorithm EC -pkeyopt ec_paramgen_curve:P-256
make_root other "/O=hsmca-test/CN=Other Root" -algorithm EC -pkeyopt ec_paramgen_curve:P-256
make_root edroot "/CN=Ed Root" -algorithm ED25519
make_root rsaroot "/CN=RSA Root" -algorithm RSA -pkeyopt rsa_keygen_bits:2048
issue int "/O=hsmca-test/CN=Test Intermediate" intermediate root 2 1000
issue server "/CN=node1" server int 4096 1
issue client "/O=system:masters/CN=admin" client int 4097 30
issue edleaf "/CN=ed leaf" server edroot 7 30

# --- good chains ---
out=$(it_ok "$V" --roots root.pem --intermediates int.pem --eku server \
	--dns node1.example.test server.pem)
it_assert_eq "OK: CN=node1 chains to CN=Test Root,O=hsmca-test (ECDSA-SHA256)" "$out" \
	"good chain reports leaf, root and signature algorithm"
it_ok "$V" --roots root.pem --intermediates int.pem --eku server --dns 127.0.0.1 server.pem >/dev/null
it_ok "$V" --roots root.pem --intermediates int.pem --eku client client.pem >/dev/null
cat server.pem int.pem >server-chain.pem
it_ok "$V" --roots root.pem server-chain.pem >/dev/null
out=$(it_ok "$V" --roots edroot.pem edleaf.pem)
it_assert_contains "$out" "chains to CN=Ed Root (Ed25519)" "leaf under an Ed25519 root"

# --- must fail ---
it_expect_fail_out() { # code substring cmd...: like it_expect_fail, on stdout
	local want=$1 needle=$2 rc=0
	shift 2
	"$@" >"$IT_OUT" 2>"$IT_ERR" || rc=$?
	if ((rc == want)) && grep -qF -- "$needle" "$IT_OUT" && ! grep -q panic "$IT_OUT" "$IT_ERR"; then
		it_pass "$* -> $needle"
	else
		it_fail "$*: exit $rc, stdout: $(cat "$IT_OUT") stderr: $(cat "$IT_ERR")"
	fi
}
it_expect_fail_out 1 "FAIL: CN=node1: x509: certificate signed by unknown authority" \
	"$V" --roots other.pem --intermediates int.pem server.pem
it_expect_fail_out 1 "signed by unknown authority" \
	"$V" --roots root.pem server.pem
it_expect_fail_out 1 "certificate has expired or is not yet valid" \
	"$V" --roots root.pem --intermediates int.pem --time 2100-01-01T00:00:00Z server.pem
it_expect_fail_out 1 "certificate has expired or is not yet valid" \
	"$V" --roots root.pem --intermediates int.pem --time 2000-01-01T00:00:00Z server.pem
it_expect_fail_out 1 "incompatible key usage" \
	"$V" --roots root.pem --intermediates int.pem --eku server client.pem
it_expect_fail_out 1 "incompatible key usage" \
	"$V" --roots root.pem --intermediates int.pem --eku client server.pem
it_expect_fail_out 1 "certificate is valid for node1.example.test, not node2.example.test" \
	"$V" --roots root.pem --intermediates int.pem --dns node2.example.test server.pem

# --- usage errors exit 2 ---
it_expect_fail 2 "--eku must be" "$V" --roots root.pem --eku bogus server.pem
it_expect_fail 2 "--roots is required" "$V" server.pem
it_expect_fail 2 "--crl and --crl-issuer go together" "$V" --roots root.pem --crl x.pem server.pem

# --- malformed input: FAIL, never a panic ---
printf 'not a certificate\n' >garbage.pem
head -c 200 server.pem >truncated.pem
openssl x509 -in server.pem -outform DER | head -c 150 >truncated.der
it_expect_fail_out 1 "FAIL: " "$V" --roots root.pem garbage.pem
it_expect_fail_out 1 "FAIL: " "$V" --roots root.pem truncated.pem
it_expect_fail_out 1 "FAIL: " "$V" --roots root.pem truncated.der
it_expect_fail_out 1 "FAIL: " "$V" --show truncated.der
it_expect_fail_out 1 "no such file" "$V" --roots root.pem missing.pem
it_expect_fail_out 1 "empty file" "$V" --roots /dev/null server.pem
it_expect_fail_out 1 "holds 2 certificates" "$V" --show server-chain.pem

# --- --check-self-signed ---
out=$(it_ok "$V" --check-self-signed root.pem)
it_assert_eq "OK: CN=Test Root,O=hsmca-test is self-signed (key ECDSA P-256, ECDSA-SHA256)" "$out" \
	"self-signed P-256 root"
out=$(it_ok "$V" --check-self-signed edroot.pem)
it_assert_eq "OK: CN=Ed Root is self-signed (key Ed25519, Ed25519)" "$out" "self-signed Ed25519 root"
out=$(it_ok "$V" --check-self-signed rsaroot.pem)
it_assert_eq "OK: CN=RSA Root is self-signed (key RSA 2048, SHA256-RSA)" "$out" "self-signed RSA root"
it_expect_fail_out 1 "differs from issuer" "$V" --check-self-signed int.pem
# The root with one bit of its signature flipped.
openssl x509 -in root.pem -outform DER >root.der
/usr/bin/python3 - <<'EOF'
data = bytearray(open("root.der", "rb").read())
data[-5] ^= 0x01        # inside the signature BIT STRING
open("badsig-root.der", "wb").write(data)
EOF
it_expect_fail_out 1 "self-signature of CN=Test Root,O=hsmca-test does not verify" \
	"$V" --check-self-signed badsig-root.der

# --- --show ---
json=$(it_ok "$V" --show server.pem)
field() { /usr/bin/python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v) if isinstance(v,(list,bool,dict)) else v)' "$json" "$1"; }
it_assert_eq "CN=node1" "$(field subject)" "show: subject"
it_assert_eq "CN=Test Intermediate,O=hsmca-test" "$(field issuer)" "show: issuer"
it_assert_eq "1000" "$(field serial)" "show: serial hex (4096 = 0x1000)"
it_assert_eq "false" "$(field isCA)" "show: isCA"
it_assert_eq '["digitalSignature"]' "$(field keyUsage)" "show: keyUsage"
it_assert_eq '["serverAuth"]' "$(field extKeyUsage)" "show: extKeyUsage"
it_assert_eq '["node1.example.test"]' "$(field dnsNames)" "show: dnsNames"
it_assert_eq '["127.0.0.1"]' "$(field ipAddresses)" "show: ipAddresses"
it_assert_eq "ECDSA-SHA256" "$(field signatureAlgorithm)" "show: signatureAlgorithm"
it_assert_eq "ECDSA" "$(field publicKeyAlgorithm)" "show: publicKeyAlgorithm"
ski_int=$(openssl x509 -in int.pem -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' :' | tr A-F a-f)
it_assert_eq "$ski_int" "$(field authorityKeyId)" "show: AKI equals the intermediate's SKI"
nb=$(date -u -d "$(openssl x509 -in server.pem -noout -startdate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
it_assert_eq "$nb" "$(field notBefore)" "show: notBefore"
json=$(it_ok "$V" --show int.pem)
it_assert_eq "true" "$(field isCA)" "show: intermediate isCA"
it_assert_eq "0" "$(field maxPathLen)" "show: intermediate pathlen:0"
it_assert_eq '["keyCertSign", "cRLSign"]' "$(field keyUsage)" "show: CA keyUsage"
json=$(it_ok "$V" --show root.pem)
it_assert_eq "-1" "$(field maxPathLen)" "show: root without pathlen"
it_assert_eq "true" "$(field selfSigned)" "show: root selfSigned"

# --- CRL: revoke the client certificate ---
mkdir -p ca && : >ca/index.txt
cat >ca.cnf <<EOF
[ca]
default_ca = int
[int]
database = $WORK/ca/index.txt
certificate = $WORK/int.pem
private_key = $WORK/int.key
crlnumber = $WORK/ca/crlnumber
default_md = sha256
default_crl_days = 7
EOF
echo 01 >ca/crlnumber
openssl ca -config ca.cnf -gencrl -out empty-crl.pem 2>/dev/null
openssl ca -config ca.cnf -revoke client.pem -crl_reason keyCompromise 2>/dev/null
openssl ca -config ca.cnf -gencrl -out crl.pem 2>/dev/null

it_ok "$V" --roots root.pem --intermediates int.pem --eku client \
	--crl empty-crl.pem --crl-issuer int.pem client.pem >/dev/null
it_expect_fail_out 1 "(serial 1001) is revoked since" \
	"$V" --roots root.pem --intermediates int.pem --eku client --crl crl.pem --crl-issuer int.pem client.pem
it_expect_fail_out 1 "reason keyCompromise (1)" \
	"$V" --roots root.pem --intermediates int.pem --eku client --crl crl.pem --crl-issuer int.pem client.pem
it_ok "$V" --roots root.pem --intermediates int.pem --eku server \
	--crl crl.pem --crl-issuer int.pem server.pem >/dev/null
it_expect_fail_out 1 "CRL issuer CN=Test Intermediate,O=hsmca-test is not CN=Test Root,O=hsmca-test" \
	"$V" --roots root.pem --intermediates int.pem --crl crl.pem --crl-issuer root.pem client.pem
it_expect_fail_out 1 "CRL is stale" \
	"$V" --roots root.pem --intermediates int.pem --time "$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" \
	--crl crl.pem --crl-issuer int.pem client.pem
# A CRL with the right issuer name but signed by another key.
openssl req -new -x509 -key other.key -subj "/O=hsmca-test/CN=Test Intermediate" -days 10 \
	-config ext.cnf -extensions ca -out impostor.pem
sed -e "s#$WORK/int.pem#$WORK/impostor.pem#" -e "s#$WORK/int.key#$WORK/other.key#" ca.cnf >impostor.cnf
openssl ca -config impostor.cnf -gencrl -out forged-crl.pem 2>/dev/null
it_expect_fail_out 1 "CRL signature does not verify" \
	"$V" --roots root.pem --intermediates int.pem --crl forged-crl.pem --crl-issuer int.pem client.pem
json=$(it_ok "$V" --show-crl crl.pem)
it_assert_eq '[{"serial": "1001", "reason": "keyCompromise", "reasonCode": 1}]' \
	"$(/usr/bin/python3 -c 'import json,sys; print(json.dumps([{k: r[k] for k in ("serial","reason","reasonCode")} for r in json.loads(sys.argv[1])["revoked"]]))' "$json")" \
	"show-crl: revoked entries"
it_expect_fail_out 1 "unexpected PEM block" "$V" --show-crl server.pem

it_summary
