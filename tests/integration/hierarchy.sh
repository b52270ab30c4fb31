#!/usr/bin/env bash
# Issue 14: a CA hierarchy across tokens. An offline root R in one state
# directory (its own SoftHSM2 token), an online intermediate I made there
# with --csr-out in a second one, signed by R, imported with checks; leaves
# from I verified by openssl, certtool and Go given only R and the
# --chain-out chain; root rollover by cross-signing (old root O = R, new root
# N in a third directory); CRL distribution points honoured by
# `openssl verify -crl_check`; `ca init --issuer`; `check` on an
# intermediate that outlives its issuer.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
OFF=$WORK/off
ON=$WORK/on
NEW=$WORK/new
off() { HSMCA_HOME=$OFF "$HSMCA" "$@"; }
on() { HSMCA_HOME=$ON "$HSMCA" "$@"; }
new() { HSMCA_HOME=$NEW "$HSMCA" "$@"; }
GO=$HSMCA_GO_VERIFY
URL=http://pki.example.test

ncerts() { grep -c -- '-----BEGIN CERTIFICATE-----' "$1" || true; }
ext_of() { openssl x509 -in "$1" -noout -ext "$2" 2>/dev/null | sed -n '2,$p' | tr -d ' \n'; }
# The SHA-256 of everything in the online state directory and the objects of
# its token: a refused import must change neither. (SoftHSM2 rewrites its
# token.object on every login, so the token is compared by its object list.)
on_state() {
	it_snapshot_dir "$ON" | grep -v ' ./tokens/'
	SOFTHSM2_CONF=$ON/softhsm2.conf it_snapshot_token "$(cat "$ON/pins/user.pin")"
}
leaf_csr() { # name dns
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" -out "$1.csr" 2>/dev/null
}

for d in "$OFF" "$ON" "$NEW"; do
	HSMCA_HOME=$d it_ok "$HSMCA" init --softhsm >/dev/null
done

# --- 1. offline root R, online intermediate I via --csr-out ---------------
it_ok off ca init root --key-type ec-p384 --subject "CN=Offline Root,O=Example" >/dev/null
off ca show root --pem >R.pem

it_expect_fail 2 "exclusive" on ca init x --key-type ec-p256 --subject CN=X --csr-out x.csr --issuer root
it_expect_fail 2 "--crl-url" on ca init x --key-type ec-p256 --subject CN=X --csr-out x.csr \
	--crl-url "file:///etc/passwd"
it_ok on ca init int --key-type ec-p256 --subject "CN=Online Issuing CA,O=Example" \
	--csr-out int.csr --crl-url "$URL/int.crl" --issuer-url "$URL/int.cer" >/dev/null
it_ok openssl req -in int.csr -noout -verify >/dev/null
it_assert_eq "subject=O = Example, CN = Online Issuing CA" "$(openssl req -in int.csr -noout -subject)" \
	"the CSR carries the requested subject"
# The CSR's key is the token key: its SPKI hash is what `key show` reports.
csr_spki=$(openssl req -in int.csr -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d" " -f1 | tr a-f A-F | sed "s/../&:/g; s/:$//")
key_spki=$(on --json key show int-key | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key_sha256"])')
it_assert_eq "$key_spki" "$csr_spki" "the CSR is for int-key, the key in the online token"
tok=$(SOFTHSM2_CONF=$ON/softhsm2.conf it_snapshot_token "$(cat "$ON/pins/user.pin")")
it_assert_contains "$tok" "label:      int-key" "pkcs11-tool lists the intermediate's key"
it_assert_contains "$(printf '%s\n' "$tok" | grep -A4 'label:      int-key')" \
	"never extractable, local" "pkcs11-tool: the intermediate key is never extractable, local"

# Pending: usable for nothing until imported.
leaf_csr l0 l0.example.test
it_expect_fail 1 "is pending" on sign int --csr l0.csr --profile server --out l0.pem
it_expect_fail 1 "is pending" on crl int --out x.crl
it_expect_fail 1 "is pending" on ca show int
it_assert_contains "$(on ca list)" "pending" "ca list shows the pending intermediate"
it_expect_fail 1 "already pending" on ca init int --key-type ec-p256 --subject "CN=Online Issuing CA" \
	--csr-out again.csr

it_ok off sign root --csr int.csr --profile intermediate-ca --out int.pem >/dev/null 2>&1

# --- 2. ca import refusals, each a clear message and no change ------------
# A throwaway software CA X stands for "some other root".
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out X.key 2>/dev/null
openssl req -new -x509 -key X.key -subj "/CN=Some Other Root" -days 30 -out X.pem \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -in int.csr -noout -pubkey >int.pub
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >ca.ext
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\n' >leaf.ext
mk_x() { # out subject days extfile: a certificate for int's key signed by X
	openssl x509 -new -force_pubkey int.pub -subj "$2" -CA X.pem -CAkey X.key -days "$3" \
		-extfile "$4" -out "$1" 2>/dev/null
}
# another key, same subject, properly signed by R
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key \
	-subj "/O=Example/CN=Online Issuing CA" -out other.csr 2>/dev/null
it_ok off sign root --csr other.csr --profile intermediate-ca --out other.pem >/dev/null 2>&1
mk_x cafalse.pem "/O=Example/CN=Online Issuing CA" 10 leaf.ext
mk_x diffsubj.pem "/O=Example/CN=Somebody Else" 10 ca.ext
mk_x toolong.pem "/O=Example/CN=Online Issuing CA" 300 ca.ext

before=$(on_state)
it_expect_fail 1 "is for another key" on ca import int --cert other.pem --chain R.pem
it_expect_fail 1 "not a CA certificate" on ca import int --cert cafalse.pem --chain X.pem
it_expect_fail 1 "does not verify up to a root" on ca import int --cert int.pem --chain X.pem
it_expect_fail 1 "no self-signed root" on ca import int --cert int.pem --chain int.pem
it_expect_fail 1 "differs from the subject requested" on ca import int --cert diffsubj.pem --chain X.pem
it_expect_fail 1 "not inside its issuer's" on ca import int --cert toolong.pem --chain X.pem
it_expect_fail 1 "no certificate found" on ca import int --cert int.csr --chain R.pem
it_expect_fail 1 "refused, nothing changed" on ca import int --cert other.pem --chain R.pem
it_assert_eq "$before" "$(on_state)" "refused imports changed neither the state directory nor the token"
it_expect_fail 1 "is pending" on ca show int

# --- 1 (cont.). the good import, a leaf verified three ways --------------
it_ok on ca import int --cert int.pem --chain R.pem >/dev/null
it_expect_fail 1 "already has its certificate" on ca import int --cert int.pem --chain R.pem
it_assert_contains "$(on ca list)" "intermediate" "ca list: int is an intermediate"

leaf_csr l1 svc.example.test
it_ok on sign int --csr l1.csr --profile server --out l1.pem --chain-out chain.pem >/dev/null 2>&1
it_assert_eq 1 "$(ncerts chain.pem)" "--chain-out holds the intermediate only (not the root)"
it_assert_eq "$(openssl x509 -in int.pem -outform DER | sha256sum)" \
	"$(openssl x509 -in chain.pem -outform DER | sha256sum)" "--chain-out holds I's certificate"
it_assert_eq "$(cat chain.pem)" "$(on ca show int --chain)" "ca show --chain prints the same chain"
it_ok openssl verify -x509_strict -CAfile R.pem -untrusted chain.pem l1.pem >/dev/null
cat l1.pem chain.pem >l1-full.pem
out=$(it_ok certtool --verify --load-ca-certificate R.pem --infile l1-full.pem)
it_assert_contains "$out" "Chain verification output: Verified." "certtool verifies leaf + chain to R"
out=$(it_ok "$GO" --roots R.pem --intermediates chain.pem --eku server --dns svc.example.test l1.pem)
it_assert_contains "$out" "chains to CN=Offline Root,O=Example" "Go crypto/x509 verifies leaf + chain to R"
it_expect_fail 2 "" openssl verify -CAfile R.pem l1.pem
it_ok on sign int --csr l1.csr --profile server --out l1b.pem --fullchain >/dev/null 2>&1
it_assert_eq 2 "$(ncerts l1b.pem)" "--fullchain: leaf followed by the intermediate"
it_ok "$GO" --roots R.pem --eku server l1b.pem >/dev/null
mkdir csrs
leaf_csr csrs/b1 b1.example.test
it_ok on issue int --profile server --csr-dir csrs --out-dir crts --fullchain --chain-out bchain.pem >/dev/null 2>&1
it_assert_eq 2 "$(ncerts crts/b1.crt)" "issue --fullchain: each certificate carries the chain"
it_assert_eq "$(cat chain.pem)" "$(cat bchain.pem)" "issue --chain-out writes the same chain"
it_ok openssl verify -CAfile R.pem -untrusted crts/b1.crt crts/b1.crt >/dev/null

# --- 4. CRL distribution point and a revoked leaf -----------------------
it_assert_eq "FullName:URI:$URL/int.crl" "$(ext_of l1.pem crlDistributionPoints)" "the leaf carries I's CDP"
it_assert_eq "CAIssuers-URI:$URL/int.cer" "$(ext_of l1.pem authorityInfoAccess)" "the leaf carries I's caIssuers URL"
it_assert_eq "" "$(ext_of int.pem authorityInfoAccess)" "R has no URLs, so I's certificate has none"
it_ok on revoke int "$(openssl x509 -in l1.pem -noout -serial | cut -d= -f2)" --reason keyCompromise >/dev/null 2>&1
it_ok on crl int --out int.crl >/dev/null 2>&1
it_assert_eq "30" "$(head -c1 int.crl | od -An -tx1 | tr -d ' ')" "crl --out *.crl is DER (starts with a SEQUENCE)"
it_ok openssl crl -inform DER -in int.crl -noout -CAfile chain.pem -verify >/dev/null 2>&1
rc=0
openssl verify -crl_check -CRLfile int.crl -CAfile R.pem -untrusted chain.pem l1.pem >v.out 2>&1 || rc=$?
[[ $rc != 0 ]] && grep -q "certificate revoked" v.out && it_pass "openssl verify -crl_check refuses the revoked leaf" ||
	it_fail "openssl verify -crl_check accepted a revoked leaf: $(cat v.out)"
it_ok openssl verify -crl_check -CRLfile int.crl -CAfile R.pem -untrusted chain.pem l1b.pem >/dev/null
it_ok on crl int --pem --out int-pem.crl >/dev/null 2>&1
it_assert_eq "-----BEGIN X509 CRL-----" "$(head -1 int-pem.crl)" "crl --pem overrides the .crl default"

# --- check: an intermediate that outlives its issuer ---------------------
it_ok on check >/dev/null
# Simulate an issuer that was re-issued with a shorter life after the import
# (the import itself refuses such a chain, see above): X's 30 days.
cp "$ON/cas/int/issuers.pem" issuers.keep
cp X.pem "$ON/cas/int/issuers.pem"
it_expect_fail 1 "" on check
it_assert_contains "$(cat "$IT_OUT")" "WARNING: CA int" "check warns that int outlives its issuer"
it_assert_contains "$(cat "$IT_OUT")" "outlives its issuer" "check names the problem"
cp issuers.keep "$ON/cas/int/issuers.pem"
it_ok on check >/dev/null

# --- ca init --issuer: one step, pathLen and validity from the parent ----
it_ok off ca init r2 --key-type ec-p256 --subject "CN=Root Two" --path-len 1 --validity 2y >/dev/null
it_ok off ca init sub --key-type ec-p256 --subject "CN=Sub of Two" --issuer r2 --validity 20y \
	--crl-url "$URL/sub.crl" >/dev/null 2>&1
it_assert_contains "$(cat "$IT_ERR")" "clamped" "the sub-CA's validity is clamped to r2's (a note says so)"
off ca show sub --pem >sub.pem
off ca show r2 --pem >r2.pem
it_assert_eq "CA:TRUE,pathlen:0" "$(ext_of sub.pem basicConstraints)" \
	"pathLen derived from the parent's (1 - 1 = 0)"
it_assert_eq "$(openssl x509 -in r2.pem -noout -enddate)" "$(openssl x509 -in sub.pem -noout -enddate)" \
	"notAfter clamped to the parent's"
it_ok openssl verify -CAfile r2.pem sub.pem >/dev/null
it_expect_fail 1 "pathLen 0" off ca init subsub --key-type ec-p256 --subject "CN=Too Deep" --issuer sub
it_expect_fail 1 "deeper than CA 'r2' allows" off ca init sub2 --key-type ec-p256 --subject "CN=S2" \
	--issuer r2 --path-len 3
leaf_csr l2 s2.example.test
it_ok off sign sub --csr l2.csr --profile server --out l2.pem --chain-out l2chain.pem >/dev/null 2>&1
it_ok openssl verify -CAfile r2.pem -untrusted l2chain.pem l2.pem >/dev/null
it_assert_eq "FullName:URI:$URL/sub.crl" "$(ext_of l2.pem crlDistributionPoints)" "--issuer CA's CDP in its leaves"

# --- 3. root rollover: O (= R) and N cross-signed both ways ---------------
it_ok new ca init newroot --key-type ec-p256 --subject "CN=New Root,O=Example" >/dev/null
new ca show newroot --pem >N.pem
it_ok off ca cross-sign root --subject-cert N.pem --out N-by-O.pem >/dev/null 2>&1
it_ok new ca cross-sign newroot --subject-cert R.pem --out O-by-N.pem --validity 1y >/dev/null 2>&1
it_assert_eq "$(ext_of N.pem subjectKeyIdentifier)" "$(ext_of N-by-O.pem subjectKeyIdentifier)" \
	"N-by-O keeps N's SKI"
it_assert_eq "$(ext_of R.pem subjectKeyIdentifier)" "$(ext_of N-by-O.pem authorityKeyIdentifier)" \
	"N-by-O has O's AKI"
it_assert_eq "$(openssl x509 -in N.pem -noout -subject -pubkey)" "$(openssl x509 -in N-by-O.pem -noout -subject -pubkey)" \
	"N-by-O certifies N's key and subject"
it_assert_eq "$(openssl x509 -in R.pem -noout -issuer | sed 's/issuer=//')" \
	"$(openssl x509 -in N-by-O.pem -noout -issuer | sed 's/issuer=//')" "N-by-O is issued by O"
it_assert_eq "$(ext_of R.pem subjectKeyIdentifier)" "$(ext_of O-by-N.pem subjectKeyIdentifier)" \
	"O-by-N keeps O's SKI"
it_expect_fail 1 "same key" off ca cross-sign root --subject-cert R.pem --out self.pem
it_expect_fail 1 "not a CA certificate" off ca cross-sign root --subject-cert l2.pem --out leafx.pem
it_expect_fail 1 "runs past" off ca cross-sign r2 --subject-cert N.pem --out long.pem --validity 5y
it_ok off ca cross-sign root sub --out sub-by-R.pem >/dev/null 2>&1
it_assert_eq "$(ext_of sub.pem subjectKeyIdentifier)" "$(ext_of sub-by-R.pem subjectKeyIdentifier)" \
	"cross-sign SUBJECT by CA name keeps its SKI"

# An intermediate under N, a leaf from it.
it_ok new ca init i2 --key-type ec-p256 --subject "CN=Issuing Under New,O=Example" --issuer newroot >/dev/null 2>&1
leaf_csr l3 new.example.test
it_ok new sign i2 --csr l3.csr --profile server --out l3.pem --chain-out l3chain.pem >/dev/null 2>&1
cat l3chain.pem N-by-O.pem >l3-for-O.pem
it_ok openssl verify -CAfile N.pem -untrusted l3chain.pem l3.pem >/dev/null
it_ok openssl verify -CAfile R.pem -untrusted l3-for-O.pem l3.pem >/dev/null
it_expect_fail 2 "" openssl verify -CAfile R.pem -untrusted l3chain.pem l3.pem
out=$(it_ok "$GO" --roots N.pem --intermediates l3chain.pem --eku server l3.pem)
it_assert_contains "$out" "chains to CN=New Root,O=Example" "Go: the leaf under N verifies for a party trusting only N"
out=$(it_ok "$GO" --roots R.pem --intermediates l3-for-O.pem --eku server l3.pem)
it_assert_contains "$out" "chains to CN=Offline Root,O=Example" \
	"Go: the leaf under N verifies for a party trusting only O (i2 + N-by-O)"
it_expect_fail 1 "" "$GO" --roots R.pem --intermediates l3chain.pem --eku server l3.pem
# And the other way: a leaf under O for a party trusting only N.
cat chain.pem O-by-N.pem >l1b-for-N.pem
it_ok openssl verify -CAfile N.pem -untrusted l1b-for-N.pem l1b.pem >/dev/null
it_ok "$GO" --roots N.pem --intermediates l1b-for-N.pem --eku server l1b.pem >/dev/null

# The signers recorded what they signed.
it_assert_eq 2 "$(grep -c '"cross-sign"' "$OFF/cas/root/issued.jsonl")" "R's records hold both cross certificates it signed (N, sub)"

it_summary
