#!/usr/bin/env bash
# Issue 3, item 3: bad CSRs and bad requests are refused — exit 1, a message
# naming the reason, and NOTHING recorded: the state directory (issued.jsonl,
# audit log, CA files; everything but SoftHSM2's token.object, which records
# logins) is byte-for-byte unchanged, the audit log has no new sign event and
# no --out file appears.  Covers: forged CSR signatures (each key type, in the
# signature and in the signed data), weak and unsupported keys, CA:TRUE and
# keyCertSign under a leaf profile, forbidden SANs and EKUs, SANs that Go's
# crypto/x509 could not parse, validity past the issuer or the profile,
# truncated/garbage/empty/oversized input, subject rules of fixed-CN/O
# profiles, --subject attributes, unknown profile/CA, an expired CA, and the
# batch command with bad CSRs among good ones.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
CRAFT=("$IT_PYTHON" "$HSMCA_TEST_SRCDIR/tests/integration/lib/craftcsr.py")
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Bad CSR Root" >/dev/null
# A root that lives 30 days: validity past the issuer.
it_ok "$HSMCA" ca init short --key-type ec-p256 --subject "CN=Short Root" --validity 30d >/dev/null
ROOT=$HSMCA_HOME/cas/root/ca.pem
RECORDS=$HSMCA_HOME/cas/root/issued.jsonl
AUDIT=$HSMCA_HOME/audit.log

state() {
	it_snapshot_dir "$HSMCA_HOME" | grep -v '/tokens/[^/]*/token\.object$'
}
sign_events() {
	grep -c '"event":"sign"' "$AUDIT" || true
}
records() {
	if [[ -f $RECORDS ]]; then wc -l <"$RECORDS"; else echo 0; fi
}

# refused NEEDLE SIGN-ARGS...: `hsmca sign SIGN-ARGS --out never.crt` exits 1
# with NEEDLE on stderr, and nothing is recorded.
refused() {
	local needle=$1 base ev rec
	shift
	base=$(state) ev=$(sign_events) rec=$(records)
	rm -f never.crt
	it_expect_fail 1 "$needle" "$HSMCA" sign "$@" --out never.crt || true
	if [[ -e never.crt ]]; then
		it_fail "  ... but never.crt was written" || true
	fi
	if [[ $base == "$(state)" && $ev == "$(sign_events)" && $rec == "$(records)" ]]; then
		it_pass "  ... and nothing was recorded"
	else
		it_fail "  ... but the state changed (sign events $ev -> $(sign_events), records $rec -> $(records))" || true
	fi
}

mkcsr() { # OUT KEYSPEC SUBJ [-addext ...]
	local out=$1 spec=$2 subj=$3
	shift 3
	case $spec in
	ec:*) openssl req -new -newkey ec -pkeyopt "ec_paramgen_curve:${spec#ec:}" -nodes \
		-keyout "$out.key" -subj "$subj" "$@" -out "$out" ;;
	*) openssl req -new -newkey "$spec" -nodes -keyout "$out.key" -subj "$subj" "$@" -out "$out" ;;
	esac 2>/dev/null
}

# A good CSR, issued first so that issued.jsonl exists and counts are real.
mkcsr good.csr ec:P-256 "/CN=good"
it_ok "$HSMCA" sign root --csr good.csr --profile client --out good.crt >/dev/null
it_assert_eq 1 "$(records)" "one record after one good CSR"

# --- forged signatures ---------------------------------------------------------
# flip_sig IN.csr OUT.der: DER, last byte of the signature flipped.
# flip_info IN.csr OUT.der: DER, one byte of the signed CN changed (the
# signature is then the right signature of other data).
flip() { # MODE IN OUT
	openssl req -in "$2" -outform DER -out "$3.tmp"
	"$IT_PYTHON" - "$1" "$3.tmp" "$3" <<'EOF'
import sys
mode, src, dst = sys.argv[1:]
d = bytearray(open(src, "rb").read())
if mode == "sig":
    d[-1] ^= 0x01
else:
    i = d.index(b"forge-me")
    d[i] = ord("F")
open(dst, "wb").write(d)
EOF
	rm -f "$3.tmp"
}
for spec in ec:P-256 ec:P-384 ed25519 rsa:2048; do
	mkcsr "forge-${spec/:/-}.csr" "$spec" "/CN=forge-me"
	flip sig "forge-${spec/:/-}.csr" "forged-sig-${spec/:/-}.der"
	flip info "forge-${spec/:/-}.csr" "forged-info-${spec/:/-}.der"
	refused "signature does not verify" root --csr "forged-sig-${spec/:/-}.der" --profile client
	refused "signature does not verify" root --csr "forged-info-${spec/:/-}.der" --profile client
done
# The same forgery in PEM form.
openssl req -inform DER -in forged-sig-ec-P-256.der -out forged-sig.pem
refused "signature does not verify" root --csr forged-sig.pem --profile client
# The reason must be the CSR's signature, not a stale, unrelated OpenSSL error.
if grep -q "engine" "$IT_ERR"; then
	it_fail "the forged-CSR message carries an unrelated OpenSSL error: $(cat "$IT_ERR")" || true
else
	it_pass "the forged-CSR message names no unrelated OpenSSL error"
fi
# An MD5 signature is no proof of possession (Go refuses it too).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl req -new -key rsa.key -subj /CN=md5 -md5 -out md5.csr
refused "MD5" root --csr md5.csr --profile client

# --- keys ----------------------------------------------------------------------
mkcsr rsa1024.csr rsa:1024 "/CN=weak"
refused "RSA-1024" root --csr rsa1024.csr --profile client
mkcsr k1.csr ec:secp256k1 "/CN=k1"
refused "secp256k1" root --csr k1.csr --profile client
mkcsr p521.csr ec:P-521 "/CN=p521"
refused "secp521r1" root --csr p521.csr --profile client
mkcsr ed448.csr ed448 "/CN=ed448"
refused "ED448" root --csr ed448.csr --profile client
mkcsr rsa2048-ca.csr rsa:2048 "/CN=Weak Sub CA"
refused "RSA-3072" root --csr rsa2048-ca.csr --profile intermediate-ca
# A P-256 key in compressed form: refused, but not by claiming P-256 is not
# accepted.
it_ok "${CRAFT[@]}" compressed-p256 compressed.der
refused "" root --csr compressed.der --profile client
if grep -q "curve prime256v1; accepted keys are P-256" "$IT_ERR"; then
	it_fail "compressed P-256 key: the message contradicts itself: $(cat "$IT_ERR")" || true
else
	it_pass "compressed P-256 key: the message does not claim P-256 is refused"
fi

# --- what the profile decides: CA, key usage, SANs, EKUs -------------------------
mkcsr ca-true.csr ec:P-256 "/CN=wants-ca" -addext basicConstraints=critical,CA:TRUE
refused "CA:TRUE" root --csr ca-true.csr --profile client
refused "CA:TRUE" root --csr ca-true.csr --profile kube-apiserver-etcd-client
mkcsr kcs.csr ec:P-256 "/CN=wants-kcs" -addext keyUsage=critical,digitalSignature,keyCertSign
refused "keyCertSign" root --csr kcs.csr --profile client
mkcsr dns-admin.csr ec:P-256 "/CN=admin/O=os:admin" -addext subjectAltName=DNS:admin.example.test
refused "DNS SAN" root --csr dns-admin.csr --profile talos-admin
mkcsr admin.csr ec:P-256 "/CN=admin/O=os:admin"
refused "DNS SAN" root --csr admin.csr --profile talos-admin --san DNS:admin.example.test
mkcsr uri-server.csr ec:P-256 "/CN=srv" -addext subjectAltName=URI:spiffe://example.test/srv
refused "URI SAN" root --csr uri-server.csr --profile server
mkcsr email-etcd.csr ec:P-256 "/CN=etcd" -addext subjectAltName=email:ops@example.test
refused "email SAN" root --csr email-etcd.csr --profile etcd-server --san DNS:localhost
mkcsr nosan.csr ec:P-256 "/CN=srv"
refused "SAN" root --csr nosan.csr --profile server
mkcsr cs.csr ec:P-256 "/CN=signer" -addext extendedKeyUsage=codeSigning
refused "codeSigning" root --csr cs.csr --profile client
mkcsr sa-admin.csr ec:P-256 "/CN=admin/O=os:admin" -addext extendedKeyUsage=serverAuth
refused "serverAuth" root --csr sa-admin.csr --profile talos-admin
mkcsr odd-eku.csr ec:P-256 "/CN=odd" -addext extendedKeyUsage=1.2.3.4.5
refused "1.2.3.4.5" root --csr odd-eku.csr --profile client
# SANs from the CSR obey the same rules as --san: what `--san` refuses, a
# CSR must not get in (Go's crypto/x509 — Kubernetes, Talos — would refuse
# to parse the certificate).
refused "DNS" root --csr nosan.csr --profile server --san "DNS:foo bar"
mkcsr dns-space.csr ec:P-256 "/CN=srv" -addext "subjectAltName=DNS:foo bar"
refused "DNS" root --csr dns-space.csr --profile server
mkcsr dns-utf8.csr ec:P-256 "/CN=srv" -addext "subjectAltName=DNS:bücher.example.test"
refused "DNS" root --csr dns-utf8.csr --profile server
mkcsr uri-bad.csr ec:P-256 "/CN=cli" -addext "subjectAltName=URI:not a uri%%"
refused "URI" root --csr uri-bad.csr --profile client
it_ok "${CRAFT[@]}" dns-nul dns-nul.der
refused "NUL" root --csr dns-nul.der --profile server
it_ok "${CRAFT[@]}" cn-bad-utf8 cn-bad-utf8.der
refused "" root --csr cn-bad-utf8.der --profile client
it_ok "${CRAFT[@]}" version-1 version-1.der
refused "version" root --csr version-1.der --profile client
# The CSR's SubjectPublicKeyInfo goes into the certificate byte for byte, so
# it must be one the verifiers accept: Ed25519 without parameters (RFC 8410;
# OpenSSL cannot even decode this key), RSA with NULL parameters (RFC 3279;
# Go refuses the key otherwise).
it_ok "${CRAFT[@]}" ed25519-params ed25519-params.der
refused "" root --csr ed25519-params.der --profile client
it_ok "${CRAFT[@]}" rsa-no-null rsa-no-null.der
refused "" root --csr rsa-no-null.der --profile client

# --- validity --------------------------------------------------------------------
refused "maximum of 365 days" root --csr good.csr --profile client --validity 366d
refused "maximum of 365 days" root --csr good.csr --profile talos-admin --validity 2y
# Without --validity the certificate is cut at the issuer's notAfter, and says so.
it_ok "$HSMCA" sign short --csr good.csr --profile client --out clamped.crt >/dev/null
it_assert_contains "$(cat "$IT_ERR")" "clamped" "default validity past the issuer: clamped, with a note"
it_assert_eq "$(openssl x509 -in "$HSMCA_HOME/cas/short/ca.pem" -noout -enddate)" \
	"$(openssl x509 -in clamped.crt -noout -enddate)" "clamped notAfter = the issuer's notAfter"
refused "notAfter" short --csr good.csr --profile client --validity 60d
# A custom profile that allows 20 years, under a 10-year root.
mkdir -p "$HSMCA_HOME/profiles"
cat >"$HSMCA_HOME/profiles/long.yaml" <<'EOF'
version: 1
name: long
key_usage: [digitalSignature]
extended_key_usage: [clientAuth]
validity: {max: 20y, default: 1y}
EOF
refused "notAfter" root --csr good.csr --profile long --validity 11y
# An expired CA issues nothing.
expired=$(date -u -d '+31 days' +%Y-%m-%dT%H:%M:%SZ)
HSMCA_NOW=$expired refused "expired" short --csr good.csr --profile client

# --- input that is not a CSR ---------------------------------------------------------
openssl req -in good.csr -outform DER -out good.der
head -c 200 good.csr >trunc.pem
head -c 100 good.der >trunc.der
head -c 4096 /dev/urandom | tr '\060' '\061' >garbage.bin # never starts with 0x30
printf 'hello, I am not a CSR\n' >text.csr
: >empty.csr
sed '2s/^.\{8\}/!!!!!!!!/' good.csr >badb64.csr
{ cat good.der; printf 'trailing'; } >trailing.der
{ cat good.csr; head -c 70000 /dev/zero | tr '\0' 'A'; } >big.csr
head -c 70000 /dev/urandom >big.bin
refused "truncated" root --csr trunc.pem --profile client
refused "truncated" root --csr trunc.der --profile client
refused "not a CSR" root --csr garbage.bin --profile client
refused "not a CSR" root --csr text.csr --profile client
refused "empty" root --csr empty.csr --profile client
refused "base64" root --csr badb64.csr --profile client
refused "not a CSR" root --csr trailing.der --profile client
refused "65536" root --csr big.csr --profile client
refused "65536" root --csr big.bin --profile client
refused "No such file" root --csr does-not-exist.csr --profile client
refused "not a CSR" root --csr good.crt --profile client

# --- subject rules -------------------------------------------------------------------
mkcsr wrong-cn.csr ec:P-256 "/CN=someone-else"
refused "fixes CN=front-proxy-client" root --csr wrong-cn.csr --profile front-proxy-client
refused "fixes CN=kube-etcd-healthcheck-client" root --csr good.csr --profile etcd-healthcheck-client --subject CN=other
mkcsr wrong-o.csr ec:P-256 "/CN=admin/O=os:reader"
refused "fixes O=os:admin" root --csr wrong-o.csr --profile talos-admin
refused "reserved Kubernetes name" root --csr admin.csr --profile talos-admin --subject "CN=admin,O=os:admin,O=system:masters"
mkcsr masters.csr ec:P-256 "/CN=kube-apiserver-kubelet-client/O=system:masters"
refused "reserved Kubernetes name" root --csr masters.csr --profile kube-apiserver-kubelet-client
mkcsr node.csr ec:P-256 "/CN=worker-1/O=system:nodes"
refused "system:node:" root --csr node.csr --profile kubelet-client
mkcsr node-empty.csr ec:P-256 "/CN=system:node:/O=system:nodes"
refused "system:node:" root --csr node-empty.csr --profile kubelet-client
refused "reserved Kubernetes name" root --csr good.csr --profile kubelet-client --subject CN=system:nodes:worker-1
refused "only CN and O" root --csr good.csr --profile kube-user --subject "CN=alice,OU=dev"
refused "only CN and O" root --csr good.csr --profile kube-user --subject "CN=alice,C=US"
refused "only CN and O" root --csr good.csr --profile client --subject "CN=alice,E=a@example.test"
# kube-user takes CN and groups from the operator's flags (issue 3): groups a
# CSR asks for — here system:masters, i.e. cluster-admin — never reach the
# certificate; a reserved name asked for is refused outright (issue 10),
# with or without --subject.
mkcsr masters-user.csr ec:P-256 "/CN=alice/O=system:masters"
refused "reserved Kubernetes name" root --csr masters-user.csr --profile kube-user
refused "reserved Kubernetes name" root --csr masters-user.csr --profile kube-user --subject CN=alice
refused "reserved Kubernetes name" root --csr masters-user.csr --profile kube-user --subject "CN=alice,O=dev"
mkcsr ops-user.csr ec:P-256 "/CN=alice/O=ops"
it_ok "$HSMCA" sign root --csr ops-user.csr --profile kube-user --subject "CN=alice,O=dev" --out dev.crt >/dev/null
it_assert_eq "subject=O = dev, CN = alice" "$(openssl x509 -in dev.crt -noout -subject)" \
	"kube-user --subject CN=alice,O=dev: exactly the groups given, not the CSR's"
mkcsr nocn.csr ec:P-256 "/O=team"
refused "no CN" root --csr nocn.csr --profile client

# --- unknown names ---------------------------------------------------------------------
refused "unknown profile" root --csr good.csr --profile no-such-profile
refused "unknown profile" root --csr good.csr --profile ../../etc/passwd
refused "no CA named" no-such-ca --csr good.csr --profile client

# --- batch: bad CSRs among good ones ---------------------------------------------------
mkdir batch
for i in 1 2 3; do mkcsr "batch/good-$i.csr" ec:P-256 "/CN=batch-good-$i"; done
rm -f batch/*.key
openssl req -in batch/good-3.csr -outform DER -out batch/good-4.der
cp forged-sig-ec-P-256.der batch/bad-forged.der
cp rsa1024.csr batch/bad-rsa1024.csr
cp empty.csr batch/bad-empty.csr
cp big.csr batch/bad-big.pem
cp cs.csr batch/bad-codesigning.csr
cp good.crt batch/bad-certificate.pem
printf 'not a CSR' >batch/ignored.txt
base_ev=$(sign_events) base_rec=$(records)
it_expect_fail 1 "" "$HSMCA" issue root --profile client --csr-dir batch --out-dir batch-out
err=$(cat "$IT_ERR")
for f in bad-forged.der:"signature does not verify" bad-rsa1024.csr:"RSA-1024" bad-empty.csr:"empty" \
	bad-big.pem:"65536" bad-codesigning.csr:"codeSigning" bad-certificate.pem:"not a CSR"; do
	name=${f%%:*} why=${f#*:}
	it_assert_contains "$err" "$name refused: " "batch names $name" || true
	if grep -F "$name refused: " "$IT_ERR" | grep -qF "$why"; then
		it_pass "batch gives the reason for $name: $why"
	else
		it_fail "batch: no reason '$why' for $name" || true
	fi
	if [[ -e batch-out/${name%.*}.crt ]]; then
		it_fail "batch wrote a certificate for $name" || true
	fi
done
it_assert_eq "good-1.crt good-2.crt good-3.crt good-4.crt" "$(cd batch-out && echo *)" \
	"batch: exactly the four good CSRs issued"
for i in 1 2 3 4; do
	it_ok "$HSMCA_GO_VERIFY" --roots "$ROOT" --eku client "batch-out/good-$i.crt" >/dev/null
done
it_assert_eq "$((base_rec + 4))" "$(records)" "batch: four records, none for the bad ones"
it_assert_eq "$((base_ev + 4))" "$(sign_events)" "batch: four sign events, none for the bad ones"
# The same with two sessions.
base_ev=$(sign_events) base_rec=$(records)
it_expect_fail 1 "bad-forged.der refused" "$HSMCA" issue root --profile client --csr-dir batch --out-dir batch-out2 --jobs 2
it_assert_eq "good-1.crt good-2.crt good-3.crt good-4.crt" "$(cd batch-out2 && echo *)" \
	"batch --jobs 2: exactly the four good CSRs issued"
it_assert_eq "$((base_rec + 4))" "$(records)" "batch --jobs 2: four records"
it_assert_eq "$((base_ev + 4))" "$(sign_events)" "batch --jobs 2: four sign events"
# What `sign` refuses at lint, the batch must refuse too — also after its
# first certificate (a CN that is not valid UTF-8, a T61String CN): refused by
# name, never signed, recorded or left without its audit event, and the
# batch goes on.
mkdir lint-batch
cp good.csr lint-batch/a-good.csr
cp cn-bad-utf8.der lint-batch/b-bad-utf8.der
it_ok "${CRAFT[@]}" cn-t61-latin1 lint-batch/c-t61.der
mkcsr lint-batch/d-good.csr ec:P-256 "/CN=after-the-bad-ones"
base_ev=$(sign_events) base_rec=$(records)
it_expect_fail 1 "b-bad-utf8.der refused" "$HSMCA" issue root --profile client --csr-dir lint-batch --out-dir lint-out || true
it_assert_contains "$(cat "$IT_ERR")" "c-t61.der refused" "lint batch: the T61 CN CSR is refused by name" || true
it_assert_eq "a-good.crt d-good.crt" "$(cd lint-out 2>/dev/null && echo *)" "lint batch: both good CSRs issued" || true
it_assert_eq "$((base_rec + 2))" "$(records)" "lint batch: only the good ones recorded" || true
it_assert_eq "$((base_ev + 2))" "$(sign_events)" "lint batch: one sign event per record" || true
"$IT_PYTHON" - "$RECORDS" "$AUDIT" <<'EOF' && it_pass "every record has its audit sign event" || it_fail "records without an audit sign event" || true
import json, sys
# (a record's subject may hold bytes that are not UTF-8: report, don't crash)
load = lambda l: json.loads(l.decode("utf-8", "replace"))
recs = {load(l)["serial"] for l in open(sys.argv[1], "rb")}
ev = {load(l)["detail"].get("serial") for l in open(sys.argv[2], "rb") if b'"event":"sign"' in l}
missing = recs - ev
if missing:
    sys.exit("recorded, never audited: %s" % sorted(missing))
EOF
# An out-dir that already holds one of the names: nothing at all is issued.
base=$(state)
it_expect_fail 1 "already exists" "$HSMCA" issue root --profile client --csr-dir batch --out-dir batch-out
it_assert_eq "$base" "$(state)" "batch into a used out-dir: nothing recorded"
# Two CSRs that would write the same certificate file (x.csr and x.der):
# never two certificates issued with one of them lost.
mkdir collide
cp good.csr collide/x.csr
mkcsr other.csr ec:P-256 "/CN=collide-other"
openssl req -in other.csr -outform DER -out collide/x.der
base_rec=$(records)
rc=0
"$HSMCA" issue root --profile client --csr-dir collide --out-dir collide-out >"$IT_OUT" 2>"$IT_ERR" || rc=$?
ncrt=$(find collide-out -name '*.crt' 2>/dev/null | wc -l)
nnew=$(($(records) - base_rec))
if ((nnew == ncrt)); then
	it_pass "colliding CSR names: $nnew issued, $ncrt written (exit $rc)"
else
	it_fail "colliding CSR names x.csr and x.der: $nnew certificates issued and recorded but $ncrt written (exit $rc): $(cat "$IT_ERR")" || true
fi
# A FIFO named like a CSR in the batch directory: refused (not a regular
# file), never waited on forever.
mkdir fifo-dir
cp good.csr fifo-dir/a.csr
mkfifo fifo-dir/b.csr
rc=0
timeout 10 "$HSMCA" issue root --profile client --csr-dir fifo-dir --out-dir fifo-out >"$IT_OUT" 2>"$IT_ERR" || rc=$?
if ((rc == 124)); then
	it_fail "batch with a FIFO named b.csr in --csr-dir hangs (killed after 10 s)" || true
elif ((rc == 1)) && grep -q "b.csr refused" "$IT_ERR" && [[ -e fifo-out/a.crt ]]; then
	it_pass "batch: a FIFO in --csr-dir is refused by name, the rest issued"
else
	it_fail "batch with a FIFO: exit $rc: $(cat "$IT_ERR")" || true
fi
it_ok "$HSMCA" audit verify >/dev/null

it_summary
