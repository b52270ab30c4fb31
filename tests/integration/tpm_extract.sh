#!/usr/bin/env bash
# Issue 4, "What it must show" item 2, from the command line: on a software
# TPM, `hsmca key show` states the proof attributes of a TPM-held key and
# that it is TPM-bound; the private key cannot be read out with pkcs11-tool;
# and the whole state directory — store, PIN files and all — copied next to
# another TPM is useless there, while the original keeps working. (The raw
# PKCS#11 attempts — CKA_VALUE, C_WrapKey, weakened flags, copies — are in
# tests/unit/test_tpm_extract.c.)
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
SIM=$HSMCA_TEST_SRCDIR/scripts/tpm-sim.sh
TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
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
}
sim_env() { sed -n "s/^$2=//p" "$1/env"; }
json_get() { "$PY" -c 'import json,sys; o=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

tpm_start "$WORK/tpm-a"
export DBUS_SESSION_BUS_ADDRESS TPM2_PKCS11_TCTI
DBUS_SESSION_BUS_ADDRESS=$(sim_env "$WORK/tpm-a" DBUS_SESSION_BUS_ADDRESS)
TPM2_PKCS11_TCTI=$(sim_env "$WORK/tpm-a" TPM2_PKCS11_TCTI)

it_ok "$HSMCA" init --tpm --tcti "$TPM2_PKCS11_TCTI" --label tpm-ca >/dev/null
it_ok "$HSMCA" key generate --label k-ec --type ec-p256 >/dev/null
it_ok "$HSMCA" key generate --label k-rsa --type rsa-3072 >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p384 --subject "CN=TPM Root P-384" >/dev/null

# --- key show: the proof attributes and the binding, for each key ---
for label in k-ec k-rsa root-key; do
	out=$(it_ok "$HSMCA" key show "$label")
	for want in "CKA_ALWAYS_SENSITIVE:  TRUE" "CKA_NEVER_EXTRACTABLE: TRUE" "CKA_LOCAL:             TRUE" \
		"CKA_SENSITIVE:         TRUE" "CKA_EXTRACTABLE:       FALSE" \
		"binding: TPM-bound" "it can be used only through this TPM and cannot be copied" \
		"verdict: generated in the token, never extractable, always sensitive" "token=tpm-ca"; do
		it_assert_contains "$out" "$want" "key show $label: $want"
	done
	kj=$(it_ok "$HSMCA" --json key show "$label")
	it_assert_eq "True True True True False" "$(printf '%s' "$kj" |
		json_get 'o["tpm_bound"], o["always_sensitive"], o["never_extractable"], o["local"], o["extractable"]' |
		tr -d '(),')" "key show --json $label: tpm_bound, always_sensitive, never_extractable, local; not extractable"
	# UNWRAP/DERIVE are asked FALSE and are; DECRYPT stays TRUE on every
	# libtpm2_pkcs11 key (docs/tpm.md) and is shown as it is.
	it_assert_eq "True False False True" "$(printf '%s' "$kj" |
		json_get 'o["sign"], o["unwrap"], o["derive"], o["decrypt"]' | tr -d '(),')" \
		"key show --json $label: usage as the TPM reports it"
done
out=$(it_ok "$HSMCA" key list)
it_assert_eq 3 "$(grep -v '^hsmca-audit ' <<<"$out" | grep -c 'non-extractable, TPM-bound')" \
	"key list marks all three TPM-bound (besides the audit key)"

# --- exporting the private key with a generic PKCS#11 tool fails ---
# (GnuTLS p11tool --export reads the object's value; pkcs11-tool does not
# even try for private keys.)
pin_file=$HSMCA_HOME/pins/user.pin
p11tool_env=(env "TPM2_PKCS11_STORE=$HSMCA_HOME/tpm2-store" TPM2_PKCS11_LOG_LEVEL=0 TSS2_LOG=all+NONE
	"GNUTLS_PIN=$(cat "$pin_file")")
p11tool_export() { # URI -> PEM on stdout
	"${p11tool_env[@]}" p11tool --provider "$TPM_MODULE" --login --export "$1"
}
for label in k-ec k-rsa root-key; do
	rc=0
	p11tool_export "pkcs11:token=tpm-ca;object=$label;type=private" >"$WORK/export.out" 2>"$WORK/export.err" || rc=$?
	if ((rc != 0)) && ! grep -q "PRIVATE KEY" "$WORK/export.out"; then
		it_pass "p11tool --export of $label's private key fails ($(head -n 1 "$WORK/export.err"))"
	else
		it_fail "p11tool --export of $label's private key: rc $rc, $(cat "$WORK/export.out")"
	fi
done
# Control: the same tool, PIN and token export the public key, and it is
# the one hsmca reports.
it_ok p11tool_export "pkcs11:token=tpm-ca;object=k-ec;type=public" >"$WORK/pub.pem"
want=$("$HSMCA" --json key show k-ec | json_get 'o["public_key_sha256"]')
got=$(openssl pkey -pubin -in "$WORK/pub.pem" -outform DER | sha256sum | cut -d' ' -f1 |
	tr a-f A-F | sed 's/../&:/g; s/:$//')
it_assert_eq "$want" "$got" "control: p11tool exports k-ec's public key, the one hsmca reports"

# --- the state directory copied next to another TPM is useless there ---
tpm_start "$WORK/tpm-b"
cp -a "$HSMCA_HOME" "$WORK/copy"
tcti_b=$(sim_env "$WORK/tpm-b" TPM2_PKCS11_TCTI)
sed -i "s|$HSMCA_HOME/|$WORK/copy/|; s|tcti: .*|tcti: \"$tcti_b\"|" "$WORK/copy/hsmca.yaml"
it_assert_contains "$(cat "$WORK/copy/hsmca.yaml")" "tcti: \"$tcti_b\"" "the copy points at the other TPM"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
	-subj "/CN=copy-test" -out leaf.csr 2>/dev/null
# The copy's TCTI is on the other simulator's private bus.
copy_env=(env "DBUS_SESSION_BUS_ADDRESS=$(sim_env "$WORK/tpm-b" DBUS_SESSION_BUS_ADDRESS)"
	"TPM2_PKCS11_TCTI=$tcti_b")
it_expect_fail 1 "log in to token 'tpm-ca'" "${copy_env[@]}" "$HSMCA" --home "$WORK/copy" key show k-ec
it_assert_contains "$(cat "$IT_ERR")" "the TPM failed the operation although it still answers" \
	"another TPM cannot unseal the copied store's keys (message says the TPM refused)"
it_expect_fail 1 "" "${copy_env[@]}" "$HSMCA" --home "$WORK/copy" sign root --csr leaf.csr \
	--profile client --out "$WORK/copy-leaf.pem"
[[ ! -e "$WORK/copy-leaf.pem" ]] && it_pass "no certificate signed with the copy" ||
	it_fail "the copy signed a certificate"
# The original, on its own TPM, still signs.
it_ok "$HSMCA" sign root --csr leaf.csr --profile client --out leaf.pem >/dev/null
it_ok openssl verify -CAfile "$HSMCA_HOME/cas/root/ca.pem" leaf.pem >/dev/null
it_summary
