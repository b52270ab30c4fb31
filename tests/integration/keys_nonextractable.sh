#!/usr/bin/env bash
# Issue 2, "What it must show" item 2, from the outside: for every key type,
# `hsmca key generate` makes a pair that an independent tool (OpenSC's
# pkcs11-tool, reading the embedded SoftHSM2 token directly) sees as
# sensitive, always sensitive, never extractable and local, usable only to
# sign; `hsmca key show --json` and `key list` say the same.  The extraction
# attempts themselves (CKA_VALUE, C_WrapKey, flipping the attributes) are in
# tests/unit/test_extract.c, which goes through raw PKCS#11.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
TYPES=(ec-p256 ec-p384 ed25519 rsa-3072 rsa-4096)

it_ok "$HSMCA" init --softhsm >/dev/null
export SOFTHSM2_CONF=$HSMCA_HOME/softhsm2.conf
PIN=$(cat "$HSMCA_HOME/pins/user.pin")

# The block of `pkcs11-tool -O` output for one object: CLASS ("Private Key"
# or "Public Key") and LABEL.  pkcs11-tool's --label does not filter -O.
p11_block() {
	awk -v cls="$1" -v lbl="$2" '
		function flush() { if (buf != "" && c == cls && l == lbl) printf "%s", buf }
		/^[^ ]/ { flush(); buf = ""; c = $0; sub(/ Object.*/, "", c); l = "" }
		{ buf = buf $0 "\n" }
		/^  label: / { x = $0; sub(/^  label: +/, "", x); l = x }
		END { flush() }'
}
# field NAME: the value of "  NAME: value" in a block on stdin.
field() {
	awk -v n="$1" '$0 ~ "^  " n ":" { sub("^  " n ": +", ""); sub(/ +$/, ""); print; exit }'
}
json_get() {
	/usr/bin/python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(str(v).lower() if isinstance(v,bool) else v)' "$1"
}

declare -A P11TYPE=([ec-p256]=EC [ec-p384]=EC [ed25519]=EC_EDWARDS [rsa-3072]=RSA [rsa-4096]=RSA)
declare -A PUBDESC=([ec-p256]="EC  EC_POINT 256 bits" [ec-p384]="EC  EC_POINT 384 bits"
	[ed25519]="EC_EDWARDS  EC_POINT 255 bits" [rsa-3072]="RSA 3072 bits" [rsa-4096]="RSA 4096 bits")

for t in "${TYPES[@]}"; do
	label=nx-$t
	gen=$(it_ok "$HSMCA" key generate --label "$label" --type "$t")
	it_assert_contains "$gen" "verdict: generated in the token, never extractable, always sensitive" \
		"$t: key generate reports the proof attributes"

	objs=$(pkcs11-tool --module "$IT_PKCS11_MODULE" -O --login --pin "$PIN" 2>/dev/null)
	priv=$(printf '%s\n' "$objs" | p11_block "Private Key" "$label")
	pub=$(printf '%s\n' "$objs" | p11_block "Public Key" "$label")
	[[ -n "$priv" ]] && it_pass "$t: pkcs11-tool sees the private key" ||
		it_fail "$t: pkcs11-tool does not list private key $label: $objs"
	[[ -n "$pub" ]] && it_pass "$t: pkcs11-tool sees the public key" ||
		it_fail "$t: pkcs11-tool does not list public key $label"
	it_assert_eq "Private Key Object; ${P11TYPE[$t]}" "$(printf '%s\n' "$priv" | head -1 | sed 's/ *$//')" \
		"$t: pkcs11-tool key type"
	it_assert_eq "Public Key Object; ${PUBDESC[$t]}" "$(printf '%s\n' "$pub" | head -1 | sed 's/ *$//')" \
		"$t: pkcs11-tool public key type and size"
	it_assert_eq "sensitive, always sensitive, never extractable, local" \
		"$(printf '%s\n' "$priv" | field Access)" "$t: pkcs11-tool Access of the private key"
	it_assert_eq "sign" "$(printf '%s\n' "$priv" | field Usage)" \
		"$t: the private key may only sign (no decrypt, unwrap, derive)"
	id=$(printf '%s\n' "$priv" | field ID)
	[[ "$id" =~ ^[0-9a-f]{32}$ ]] && it_pass "$t: CKA_ID is 16 bytes ($id)" ||
		it_fail "$t: CKA_ID '$id' is not 16 bytes"
	it_assert_eq "$id" "$(printf '%s\n' "$pub" | field ID)" "$t: the public key has the same CKA_ID"

	json=$(it_ok "$HSMCA" --json key show "$label")
	for kv in sensitive=true extractable=false always_sensitive=true never_extractable=true \
		local=true sign=true decrypt=false unwrap=false derive=false; do
		it_assert_eq "${kv#*=}" "$(printf '%s' "$json" | json_get "${kv%%=*}")" \
			"$t: key show --json ${kv%%=*}"
	done
	it_assert_eq "$t" "$(printf '%s' "$json" | json_get type)" "$t: key show --json type"
	it_assert_eq "$id" "$(printf '%s' "$json" | json_get id)" "$t: key show --json id = pkcs11-tool ID"
	# The URI that key show prints finds the same key again.
	uri=$(printf '%s' "$json" | json_get uri)
	it_assert_contains "$uri" "object=$label;" "$t: key URI names the label"
	again=$(it_ok "$HSMCA" --json key show "$uri")
	it_assert_eq "$id" "$(printf '%s' "$again" | json_get id)" "$t: key show by URI finds the same key"
	# The public key hsmca reports is the one in the token: rebuild the SPKI
	# from pkcs11-tool's EC_POINT (EC, Ed25519) or read it (RSA).
	case $t in
	rsa-*)
		pkcs11-tool --module "$IT_PKCS11_MODULE" --read-object --type pubkey --label "$label" \
			-o "$WORK/$label.pub.der" >/dev/null 2>&1 || true
		spki_fp=$(openssl pkey -pubin -inform DER -in "$WORK/$label.pub.der" -outform DER 2>/dev/null |
			sha256sum | cut -d' ' -f1) ;;
	*)
		point=$(printf '%s\n' "$pub" | field EC_POINT)
		spki_fp=$(/usr/bin/python3 - "$t" "$point" <<'PY'
import hashlib, sys
prefix = {
    "ec-p256": "3059301306072a8648ce3d020106082a8648ce3d030107034200",
    "ec-p384": "3076301006072a8648ce3d020106052b81040022036200",
    "ed25519": "302a300506032b6570032100",
}[sys.argv[1]]
octets = bytes.fromhex(sys.argv[2])
assert octets[0] == 0x04 and octets[1] == len(octets) - 2, "EC_POINT is not a DER OCTET STRING"
print(hashlib.sha256(bytes.fromhex(prefix) + octets[2:]).hexdigest())
PY
		) || spki_fp="(no EC_POINT)" ;;
	esac
	spki_fp=$(printf '%s' "$spki_fp" | tr a-f A-F | sed 's/../&:/g; s/:$//')
	it_assert_eq "$spki_fp" "$(printf '%s' "$json" | json_get public_key_sha256)" \
		"$t: public_key_sha256 is the SPKI of the token's public key object"
done

# key list: every key, each "non-extractable".
list=$(it_ok "$HSMCA" key list)
for t in "${TYPES[@]}"; do
	line=$(printf '%s\n' "$list" | awk -v l="nx-$t" '$1 == l')
	it_assert_contains "$line" "non-extractable" "key list: nx-$t non-extractable"
	it_assert_contains "$line" " $t " "key list: nx-$t type"
done
n=$(printf '%s' "$(it_ok "$HSMCA" --json key list)" | /usr/bin/python3 -c \
	'import json,sys; l=json.load(sys.stdin); print(sum(1 for k in l if k["label"].startswith("nx-") and k["never_extractable"] and k["always_sensitive"] and k["local"] and not k["extractable"]))')
it_assert_eq "${#TYPES[@]}" "$n" "key list --json: all ${#TYPES[@]} keys proven non-extractable"


objs_before=$(pkcs11-tool --module "$IT_PKCS11_MODULE" -O --login --pin "$PIN" 2>/dev/null)
# Unknown key type: refused before the token is touched, nothing created.
it_expect_fail 2 "unknown key type 'ec-p521'" "$HSMCA" key generate --label nx-bad --type ec-p521
it_assert_eq "$objs_before" "$(pkcs11-tool --module "$IT_PKCS11_MODULE" -O --login --pin "$PIN" 2>/dev/null)" \
	"a refused key type creates nothing"
it_summary
