#!/usr/bin/env bash
# Issue 4, "What it must show" item 1: on a software TPM (swtpm behind
# tpm2-abrmd, started by scripts/tpm-sim.sh in this test's directory),
# `hsmca init --tpm` makes a TPM-backed state directory, and the same
# commands as on SoftHSM2 give: root ceremonies for ec-p256, rsa-3072 and
# rsa-3072 with PSS; an intermediate CA and server / client / talos-admin
# leaves signed from openssl CSRs with `hsmca sign`; a revocation and a CRL.
# OpenSSL, GnuTLS certtool and Go crypto/x509 accept every one of them
# (a 3-level chain through the intermediate too), and refuse a tampered
# certificate and the revoked one.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"
SIM=$HSMCA_TEST_SRCDIR/scripts/tpm-sim.sh
PY=/usr/bin/python3

it_setup
cd "$WORK"

# tpm_start DIR: a private swtpm + tpm2-abrmd, stopped by PID at exit.
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
json_get() { "$PY" -c 'import json,sys; o=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
go_field() { "$HSMCA_GO_VERIFY" --show "$1" | json_get "o[\"$2\"]"; }

tpm_start "$WORK/tpm"

# --- init: a TPM-backed state directory, the token made by C_InitToken ---
out=$(it_ok "$HSMCA" init --tpm --tcti "$TPM2_PKCS11_TCTI")
it_assert_contains "$out" "libtpm2_pkcs11.so" "init --tpm uses libtpm2_pkcs11"
it_assert_eq "" "$(cat "$IT_ERR")" "init --tpm prints nothing on stderr (module and TSS logging quieted)"
yaml=$(cat "$HSMCA_HOME/hsmca.yaml")
it_assert_contains "$yaml" "store: \"$HSMCA_HOME/tpm2-store\"" "the TPM store is inside the state directory"
it_assert_contains "$yaml" "tcti: \"$TPM2_PKCS11_TCTI\"" "the TCTI is recorded"
[[ -s "$HSMCA_HOME/tpm2-store/tpm2_pkcs11.sqlite3" ]] &&
	it_pass "libtpm2_pkcs11's store is $HSMCA_HOME/tpm2-store" || it_fail "no store in $HSMCA_HOME/tpm2-store"
[[ ! -e "$WORK/tpm/store/tpm2_pkcs11.sqlite3" ]] &&
	it_pass "nothing written to the simulator's default store" || it_fail "the sim's store was used"
# Without the environment the state directory still works: TCTI and store
# come from hsmca.yaml.
out=$(it_ok env -u TPM2_PKCS11_TCTI -u TPM2_PKCS11_STORE "$HSMCA" token list)
it_assert_contains "$out" "hsmca" "token list works from hsmca.yaml alone"

# verify_root NAME PEM
verify_root() {
	local out
	out=$(it_ok openssl verify -x509_strict -check_ss_sig -CAfile "$2" "$2")
	it_assert_eq "$2: OK" "$out" "$1: openssl verify -x509_strict -check_ss_sig"
	out=$(it_ok certtool --verify-profile=medium --verify --load-ca-certificate "$2" --infile "$2")
	it_assert_contains "$out" "Chain verification output: Verified." "$1: certtool --verify"
	out=$(it_ok "$HSMCA_GO_VERIFY" --check-self-signed "$2")
	it_assert_contains "$out" "OK: " "$1: Go --check-self-signed"
}

# verify_leaf WHAT ROOT CERT EKU [DNS]: all three verifiers accept CERT under ROOT.
verify_leaf() {
	local what=$1 root=$2 cert=$3 eku=$4 dns=${5:-} out purpose=any
	local go=("$HSMCA_GO_VERIFY" --roots "$root")
	[[ $eku == server ]] && purpose=sslserver
	[[ $eku == client ]] && purpose=sslclient
	[[ $eku != none ]] && go+=(--eku "$eku")
	[[ -n "$dns" ]] && go+=(--dns "$dns")
	out=$(it_ok openssl verify -x509_strict -purpose "$purpose" -CAfile "$root" "$cert")
	it_assert_eq "$cert: OK" "$out" "$what: openssl verify -purpose $purpose"
	out=$(it_ok certtool --verify-profile=medium --verify --load-ca-certificate "$root" --infile "$cert")
	it_assert_contains "$out" "Chain verification output: Verified." "$what: certtool --verify"
	out=$(it_ok "${go[@]}" "$cert")
	it_assert_contains "$out" "OK: " "$what: Go crypto/x509 (eku $eku)"
}

# csr NAME p256|p384|rsa2048|rsa3072 SUBJECT -> NAME.key, NAME.csr
csr() {
	local spec
	case $2 in
	p256) spec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
	p384) spec=(-newkey ec -pkeyopt ec_paramgen_curve:P-384) ;;
	rsa2048) spec=(-newkey rsa:2048) ;;
	rsa3072) spec=(-newkey rsa:3072) ;;
	esac
	openssl req -new "${spec[@]}" -nodes -keyout "$1.key" -subj "$3" -out "$1.csr" 2>/dev/null
}

serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//' | tr 'A-F' 'a-f'; }

# name | key type | extra ca-init flags | Go signatureAlgorithm | Go publicKey
ROOTS=(
	"r-ec|ec-p256||ECDSA-SHA256|ECDSA P-256"
	"r-rsa|rsa-3072||SHA256-RSA|RSA 3072"
	"r-pss|rsa-3072|--rsa-pss|SHA256-RSAPSS|RSA 3072"
)
for r in "${ROOTS[@]}"; do
	IFS='|' read -r name kt extra goalg gokey <<<"$r"
	subj="CN=TPM Root $name,O=hsmca tests"
	# shellcheck disable=SC2086 # $extra is a list of flags
	it_ok "$HSMCA" ca init "$name" --key-type "$kt" --subject "$subj" $extra >/dev/null
	it_assert_eq "" "$(grep -v '^hsmca: note:' "$IT_ERR" || true)" "$name: ca init is quiet on stderr"
	root=$WORK/$name.pem
	"$HSMCA" ca show "$name" --pem >"$root"
	verify_root "$name" "$root"
	it_assert_eq "$goalg" "$(go_field "$root" signatureAlgorithm)" "$name: signature $goalg"
	it_assert_eq "$gokey" "$(go_field "$root" publicKey)" "$name: public key $gokey"

	# The certified key is the TPM-held key, and it is proven TPM-bound.
	kj=$(it_ok "$HSMCA" --json key show "$name-key")
	fp=$(openssl x509 -in "$root" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum |
		cut -d' ' -f1 | tr a-f A-F | sed 's/../&:/g; s/:$//')
	it_assert_eq "$fp" "$(printf '%s' "$kj" | json_get 'o["public_key_sha256"]')" \
		"$name: the root certifies $name-key from the TPM"
	it_assert_eq "True True True True" "$(printf '%s' "$kj" |
		json_get 'o["tpm_bound"], o["always_sensitive"], o["never_extractable"], o["local"]' |
		tr -d '(),')" "$name: key is TPM-bound, always sensitive, never extractable, local"

	# An intermediate CA from an openssl CSR (RSA 3072 under the RSA roots,
	# P-384 under the EC root: the profile wants RSA >= 3072).
	keyspec=p384
	[[ $kt == rsa-* ]] && keyspec=rsa3072
	csr "$name-int" "$keyspec" "/CN=Intermediate under $name/O=hsmca tests"
	it_ok "$HSMCA" sign "$name" --csr "$name-int.csr" --profile intermediate-ca \
		--out "$name-int.pem" >/dev/null
	verify_leaf "$name intermediate" "$root" "$name-int.pem" none
	show=$("$HSMCA_GO_VERIFY" --show "$name-int.pem")
	it_assert_eq "True 0 True" "$(printf '%s' "$show" | json_get 'o["isCA"], o["maxPathLen"], o["basicConstraintsValid"]' |
		tr -d '(),')" "$name intermediate: CA:TRUE, pathLen 0"
	it_assert_eq "keyCertSign,cRLSign" "$(printf '%s' "$show" | json_get '",".join(o["keyUsage"])')" \
		"$name intermediate: keyUsage keyCertSign+cRLSign"
	it_assert_eq "$goalg" "$(printf '%s' "$show" | json_get 'o["signatureAlgorithm"]')" \
		"$name intermediate: signed with $goalg by the TPM"

	# The intermediate works as a CA: a leaf it signs (in software, with its
	# openssl key) verifies through the 3-level chain.
	csr "$name-deep" p256 "/CN=deep.example.test"
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:deep.example.test\n' >ext.cnf
	openssl x509 -req -in "$name-deep.csr" -CA "$name-int.pem" -CAkey "$name-int.key" \
		-CAcreateserial -days 30 -sha256 -extfile ext.cnf -out "$name-deep.pem" 2>/dev/null
	out=$(it_ok openssl verify -x509_strict -purpose sslserver -CAfile "$root" \
		-untrusted "$name-int.pem" "$name-deep.pem")
	it_assert_eq "$name-deep.pem: OK" "$out" "$name: openssl verifies root -> intermediate -> leaf"
	cat "$name-deep.pem" "$name-int.pem" >"$name-chain.pem"
	out=$(it_ok certtool --verify-profile=medium --verify --load-ca-certificate "$root" \
		--infile "$name-chain.pem")
	it_assert_contains "$out" "Chain verification output: Verified." "$name: certtool verifies the 3-level chain"
	out=$(it_ok "$HSMCA_GO_VERIFY" --roots "$root" --intermediates "$name-int.pem" --eku server \
		--dns deep.example.test "$name-deep.pem")
	it_assert_contains "$out" "OK: " "$name: Go verifies the 3-level chain"

	# Leaves from openssl CSRs under three profiles.
	csr "$name-srv" p256 "/CN=api.example.test"
	it_ok "$HSMCA" sign "$name" --csr "$name-srv.csr" --profile server \
		--san DNS:api.example.test --san IP:10.0.0.1 --out "$name-srv.pem" >/dev/null
	verify_leaf "$name server" "$root" "$name-srv.pem" server api.example.test
	csr "$name-cli" rsa2048 "/CN=alice/O=ops"
	it_ok "$HSMCA" sign "$name" --csr "$name-cli.csr" --profile client --out "$name-cli.pem" >/dev/null
	verify_leaf "$name client" "$root" "$name-cli.pem" client
	csr "$name-talos" p256 "/CN=talos-operator-1"
	it_ok "$HSMCA" sign "$name" --csr "$name-talos.csr" --profile talos-admin \
		--out "$name-talos.pem" >/dev/null
	verify_leaf "$name talos-admin" "$root" "$name-talos.pem" client
	it_assert_eq "CN=talos-operator-1,O=os:admin" "$(go_field "$name-talos.pem" subject)" \
		"$name talos-admin: O=os:admin from the profile"
	it_assert_eq "$(go_field "$root" subject)" "$(go_field "$name-srv.pem" issuer)" \
		"$name server: issuer is the TPM root"

	# --- revocation and a CRL signed in the TPM ---
	it_ok "$HSMCA" revoke "$name" "$(serial_of "$name-cli.pem")" --reason key-compromise >/dev/null
	it_ok "$HSMCA" crl "$name" --pem --out "$name.crl" >/dev/null
	it_assert_contains "$(cat "$IT_ERR")" "1 revoked" "$name: crl reports the revocation"
	it_ok openssl crl -in "$name.crl" -noout -verify -CAfile "$root" >/dev/null
	it_assert_contains "$(cat "$IT_ERR")" "verify OK" "$name: openssl crl -verify accepts the CRL"
	out=$(it_ok certtool --verify-crl --load-ca-certificate "$root" --infile "$name.crl")
	it_assert_contains "$out" "Verification output: Verified." "$name: certtool --verify-crl accepts the CRL"
	crljson=$(it_ok "$HSMCA_GO_VERIFY" --show-crl "$name.crl")
	it_assert_contains "$crljson" "$(serial_of "$name-cli.pem" | sed 's/^0*//')" \
		"$name: Go parses the CRL and lists the revoked serial"
	it_ok "$HSMCA_GO_VERIFY" --roots "$root" --eku server --crl "$name.crl" --crl-issuer "$root" \
		"$name-srv.pem" >/dev/null
	it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots "$root" --eku client --crl "$name.crl" \
		--crl-issuer "$root" "$name-cli.pem"
	it_assert_contains "$(cat "$IT_OUT")" "is revoked" "$name: Go refuses the revoked client certificate"
	rc=0
	openssl verify -crl_check -CRLfile "$name.crl" -CAfile "$root" "$name-cli.pem" >v.out 2>&1 || rc=$?
	((rc != 0)) && grep -q "certificate revoked" v.out &&
		it_pass "$name: openssl -crl_check refuses the revoked client certificate" ||
		it_fail "$name: openssl -crl_check on the revoked certificate: rc $rc, $(cat v.out)"
	it_ok openssl verify -crl_check -CRLfile "$name.crl" -CAfile "$root" "$name-srv.pem" >/dev/null
done

# --- a tampered certificate is refused by all three (the checks can fail) ---
openssl x509 -in r-ec-srv.pem -outform DER -out bad.der
"$PY" -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[-1] ^= 0x01
open(sys.argv[1], "wb").write(d)' bad.der
openssl x509 -inform DER -in bad.der -out bad.pem
it_expect_fail 2 "certificate signature failure" openssl verify -CAfile r-ec.pem bad.pem
rc=0
certtool --verify-profile=medium --verify --load-ca-certificate r-ec.pem --infile bad.pem >ct.out 2>&1 || rc=$?
((rc != 0)) && ! grep -q "Chain verification output: Verified" ct.out &&
	it_pass "certtool refuses the tampered certificate" || it_fail "certtool accepted the tampered certificate"
it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots r-ec.pem --eku server bad.pem
it_assert_contains "$(cat "$IT_OUT")" "FAIL: " "Go refuses the tampered certificate"
# ... and a certificate of one TPM root does not verify under another.
it_expect_fail 1 "" "$HSMCA_GO_VERIFY" --roots r-rsa.pem --eku server r-ec-srv.pem
it_assert_contains "$(cat "$IT_OUT")" "FAIL: " "Go: r-ec's leaf does not chain to r-rsa"

# --- the log of it all ---
out=$(it_ok "$HSMCA" audit verify)
it_assert_contains "$out" "hash chain intact" "audit log intact"
it_assert_eq 3 "$(grep '"event":"sign"' "$HSMCA_HOME/audit.log" | grep -c '"kind":"root-certificate"')" \
	"three root ceremonies in the audit log"
it_assert_eq 3 "$(grep '"event":"sign"' "$HSMCA_HOME/audit.log" | grep -c '"kind":"crl"')" \
	"three CRLs in the audit log"
list=$(it_ok "$HSMCA" key list)
it_assert_eq 3 "$(grep -v '^hsmca-audit ' <<<"$list" | grep -c 'non-extractable, TPM-bound')" \
	"key list: three TPM-bound CA keys (besides the audit key)"
it_summary
