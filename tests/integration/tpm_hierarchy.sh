#!/usr/bin/env bash
# Issue 14 on a TPM: the online intermediate's key in a software TPM (swtpm
# behind tpm2-abrmd, libtpm2_pkcs11), its CSR signed in the TPM with
# `ca init --csr-out`, signed by a root in a separate SoftHSM2 state
# directory, bound with `ca import`; a leaf from it verifies with openssl and
# Go given only the root and the --chain-out chain; a certificate for another
# key is refused with the state unchanged.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"
SIM=$HSMCA_TEST_SRCDIR/scripts/tpm-sim.sh

it_setup
cd "$WORK"
OFF=$WORK/off
off() { HSMCA_HOME=$OFF "$HSMCA" "$@"; }

it_defer bash "$SIM" stop --dir "$WORK/tpm"
it_ok bash "$SIM" start --dir "$WORK/tpm" >/dev/null
for f in swtpm dbus abrmd; do
	it_register_pid "$(tr -d ' \n' <"$WORK/tpm/$f.pid")"
done
set -a
# shellcheck disable=SC1091 # written by tpm-sim.sh at start
. "$WORK/tpm/env"
set +a

HSMCA_HOME=$OFF it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" init --tpm --tcti "$TPM2_PKCS11_TCTI" >/dev/null
it_ok off ca init root --key-type ec-p256 --subject "CN=Offline Root" >/dev/null
off ca show root --pem >R.pem

it_ok "$HSMCA" ca init int --key-type ec-p256 --subject "CN=TPM Issuing CA" --csr-out int.csr \
	--crl-url http://pki.example.test/tpm.crl >/dev/null
it_ok openssl req -in int.csr -noout -verify >/dev/null
kj=$(it_ok "$HSMCA" --json key show int-key)
it_assert_eq "True True False" "$(printf '%s' "$kj" | /usr/bin/python3 -c \
	'import json,sys; k=json.load(sys.stdin); print(k["never_extractable"], k["local"], k["extractable"])')" \
	"the intermediate's TPM key is never extractable, local"
it_ok off sign root --csr int.csr --profile intermediate-ca --out int.pem >/dev/null 2>&1

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key \
	-subj "/CN=TPM Issuing CA" -out o.csr 2>/dev/null
it_ok off sign root --csr o.csr --profile intermediate-ca --out other.pem >/dev/null 2>&1
before=$(it_snapshot_dir "$HSMCA_HOME/cas")
it_expect_fail 1 "is for another key" "$HSMCA" ca import int --cert other.pem --chain R.pem
it_assert_eq "$before" "$(it_snapshot_dir "$HSMCA_HOME/cas")" "the refused import changed nothing"

it_ok "$HSMCA" ca import int --cert int.pem --chain R.pem >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l.key \
	-subj "/CN=tpm.example.test" -addext "subjectAltName=DNS:tpm.example.test" -out l.csr 2>/dev/null
it_ok "$HSMCA" sign int --csr l.csr --profile server --out l.pem --chain-out chain.pem >/dev/null 2>&1
it_ok openssl verify -CAfile R.pem -untrusted chain.pem l.pem >/dev/null
it_ok "$HSMCA_GO_VERIFY" --roots R.pem --intermediates chain.pem --eku server l.pem >/dev/null
it_assert_contains "$(openssl x509 -in l.pem -noout -ext crlDistributionPoints)" \
	"http://pki.example.test/tpm.crl" "the TPM intermediate writes its CDP"

it_summary
