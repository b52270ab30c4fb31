#!/usr/bin/env bash
# Air-gapped signing between two state directories with separate tokens:
# online A makes a request of 20 CSRs, offline B signs it (CA and audit key
# in B's token), A verifies and imports.  Every certificate verifies to B's
# root with OpenSSL and carries its CSR's key; the response's audit lines
# verify with B's audit key.  Tampering is refused with the reason named: a
# byte changed in a certificate, a certificate swapped for one issued to
# another key, the manifest edited, a file added, an earlier response
# replayed.  Then B's audit log is rewritten consistently (every later prev
# and the head recomputed, as docs/audit.md describes): the chain alone
# passes, `audit verify` fails at the first checkpoint it contradicts.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"

it_setup
cd "$WORK"
A=$WORK/online
B=$WORK/offline
on() { "$HSMCA" --home "$A" "$@"; }
off() { "$HSMCA" --home "$B" "$@"; }

# retar IN OUT MEMBER FILE: a copy of bundle IN with MEMBER's bytes replaced
# by FILE's (or MEMBER added), everything else as it was.
retar() {
	"$IT_PYTHON" - "$@" <<'EOF'
import io, sys, tarfile
src, dst, member, path = sys.argv[1:5]
data = open(path, "rb").read()
done = False
with tarfile.open(src, "r") as tin, tarfile.open(dst, "w", format=tarfile.USTAR_FORMAT) as tout:
    for m in tin.getmembers():
        b = tin.extractfile(m).read()
        if m.name == member:
            b, done = data, True
        m.size = len(b)
        tout.addfile(m, io.BytesIO(b))
    if not done:
        m = tarfile.TarInfo(member)
        m.size = len(data)
        tout.addfile(m, io.BytesIO(data))
EOF
}
member() { tar -xOf "$1" "$2"; }

# --- two state directories, two tokens ---
it_ok off init --softhsm >/dev/null
it_ok off ca init offline-root --key-type ec-p256 --subject "CN=Offline Root,O=Air Gap" >/dev/null
it_ok on init --softhsm >/dev/null
cp "$B/cas/offline-root/ca.pem" "$WORK/root.pem"
cp "$B/audit-key.pem" "$WORK/b-audit-key.pem"
[[ "$(cat "$A/audit-key.pem")" != "$(cat "$B/audit-key.pem")" ]] &&
	it_pass "A and B have different audit keys (separate tokens)" ||
	it_fail "A and B share an audit key"

mkdir csrs keys
for i in $(seq -w 1 20); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "keys/node$i.key" \
		-subj "/CN=node$i.air.example" -addext "subjectAltName=DNS:node$i.air.example" \
		-out "csrs/node$i.csr" 2>/dev/null
done

# --- request (online) ---
it_expect_fail 2 "are required" on bundle request --ca offline-root --csr-dir csrs --out x.bundle
out=$(it_ok on bundle request --ca offline-root --profile server --csr-dir csrs --out req.bundle \
	--note "change 4711")
it_assert_contains "$out" "20 CSRs for CA offline-root" "the request holds 20 CSRs"
REQ_ID=$(printf '%s' "$out" | sed -n 's/.*request \([0-9a-f]\{32\}\),.*/\1/p')
it_assert_eq 21 "$(tar -tf req.bundle | wc -l)" "request bundle: manifest.json + 20 CSR files"
it_assert_eq "$(member req.bundle manifest.json | sha256sum | cut -d' ' -f1)" \
	"$(printf '%s' "$out" | sed -n 's/.*manifest SHA-256 \([0-9a-f]*\).*/\1/p')" \
	"the printed request hash is the SHA-256 of manifest.json"
spki=$(openssl req -in csrs/node07.csr -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
it_assert_contains "$(member req.bundle manifest.json)" "\"spki_sha256\":\"$spki\"" "the manifest names CSR 7's key (SPKI SHA-256)"

# --- sign (offline) ---
issued_before=$(wc -l <"$B/cas/offline-root/issued.jsonl" 2>/dev/null || echo 0)
# No --yes and no terminal to confirm on: nothing is signed.
it_expect_fail 1 "no terminal to confirm on" setsid -w "$HSMCA" --home "$B" bundle sign req.bundle \
	--out resp.bundle </dev/null
it_assert_eq "$issued_before" "$(wc -l <"$B/cas/offline-root/issued.jsonl" 2>/dev/null || echo 0)" \
	"declined: nothing issued"
[[ ! -e resp.bundle ]] && it_pass "declined: no response written" || it_fail "declined but wrote a response"
# Confirmation read from the terminal: 'no' declines, 'yes' signs.
pty_sign() {
	"$IT_PYTHON" - "$@" <<'EOF'
import os, pty, select, sys
answer, argv = sys.argv[1].encode(), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out, sent = b"", False
while True:
    r, _, _ = select.select([fd], [], [], 60)
    if not r:
        os.kill(pid, 9)
        break
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
    if not sent and b"Type 'yes': " in out:
        os.write(fd, answer + b"\n")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("\nEXIT %d" % (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128))
EOF
}
t=$(pty_sign no "$HSMCA" --home "$B" bundle sign req.bundle --out resp.bundle)
it_assert_contains "$t" "node07.air.example" "the review table shows each subject"
it_assert_contains "$t" "DNS:node07.air.example" "the review table shows the SANs"
it_assert_contains "$t" "EXIT 1" "answering 'no' declines"
it_assert_eq "$issued_before" "$(wc -l <"$B/cas/offline-root/issued.jsonl" 2>/dev/null || echo 0)" \
	"'no': nothing issued"
t=$(pty_sign yes "$HSMCA" --home "$B" bundle sign req.bundle --out resp.bundle)
it_assert_contains "$t" "20 issued, 0 refused" "answering 'yes' signs all 20"
it_assert_contains "$t" "EXIT 0" "bundle sign exits 0"
tar -tf resp.bundle >resp.list
for f in manifest.json manifest.sig chain.pem crl.pem audit.jsonl certs/0001.pem certs/0020.pem; do
	grep -qx "$f" resp.list && it_pass "response holds $f" || it_fail "response lacks $f"
done
it_assert_contains "$(member resp.bundle manifest.json)" "$(member req.bundle manifest.json | sha256sum | cut -d' ' -f1)" \
	"the response manifest names the request's SHA-256"

# --- verify and import (online) ---
out=$(it_ok on bundle verify resp.bundle --anchor root.pem --request req.bundle \
	--audit-anchor b-audit-key.pem)
it_assert_contains "$out" "20 issued, 0 refused" "verify: 20 certificates"
it_assert_contains "$out" "signed by b-audit-key.pem" "verify: the audit checkpoint verifies with B's audit key"
it_expect_fail 1 "audit.jsonl" on bundle verify resp.bundle --anchor root.pem --request req.bundle \
	--audit-anchor "$A/audit-key.pem"
# A root with the same name but another key is not B's root.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -days 30 \
	-subj "/CN=Offline Root/O=Air Gap" -out impostor.pem 2>/dev/null
it_expect_fail 1 "chain.pem: the issuing CA does not chain to the anchor" on bundle verify resp.bundle \
	--anchor impostor.pem --request req.bundle
member resp.bundle audit.jsonl >audit.jsonl
out=$(it_ok off audit verify-export audit.jsonl --anchor b-audit-key.pem)
it_assert_contains "$out" "chain to checkpoint" "the response's audit lines verify alone with B's audit key"
it_expect_fail 1 "not by the anchor's key" off audit verify-export audit.jsonl --anchor "$A/audit-key.pem"

# Tampered copies first: each refused, naming the reason, writing nothing.
refused() { # NAME NEEDLE BUNDLE [extra args]
	local name=$1 needle=$2 bundle=$3
	shift 3
	rm -rf "$WORK/out-$name"
	it_expect_fail 1 "$needle" on bundle import "$bundle" --anchor root.pem --out-dir "$WORK/out-$name" "$@"
	[[ ! -e "$WORK/out-$name" ]] && it_pass "$name: nothing written" || it_fail "$name: files were written"
}
# One byte changed in a certificate.
member resp.bundle certs/0005.pem >c5.pem
"$IT_PYTHON" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); i=len(b)//2; b[i]=ord("A") if b[i]!=ord("A") else ord("B"); open(sys.argv[1],"wb").write(b)' c5.pem
retar resp.bundle t-byte.bundle certs/0005.pem c5.pem
refused byte "certs/0005.pem: altered (its SHA-256 does not match the manifest)" t-byte.bundle
# A certificate issued by the same CA to another key, in place of CSR 5's.
mkdir csrs2
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=node05.air.example" -addext "subjectAltName=DNS:node05.air.example" -out csrs2/a.csr 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=nosan.air.example" -out csrs2/b-nosan.csr 2>/dev/null
out=$(it_ok on bundle request --ca offline-root --profile server --csr-dir csrs2 --out req2.bundle)
out=$(it_ok off bundle sign req2.bundle --out resp2.bundle --yes)
it_assert_contains "$out" "1 issued, 1 refused" "a CSR the profile refuses is listed as refused"
it_assert_contains "$out" "REFUSED" "the refusal is printed with its reason"
it_assert_contains "$(member resp2.bundle manifest.json)" '"refused"' "the manifest lists the refusal"
member resp2.bundle certs/0001.pem >other.pem
retar resp.bundle t-swap.bundle certs/0005.pem other.pem
refused swap "certs/0005.pem: a certificate for another key" t-swap.bundle
# The manifest edited (a refusal hidden, a serial changed).
member resp.bundle manifest.json | sed '0,/"serial":"/s//"serial":"00/' >m.json
retar resp.bundle t-manifest.bundle manifest.json m.json
refused manifest "manifest.json: its signature does not verify" t-manifest.bundle
# A file added.
retar resp.bundle t-added.bundle certs/0021.pem other.pem
refused added "certs/0021.pem: in the bundle but not in its manifest" t-added.bundle
# A response to an earlier request replayed for the new one.
refused replay "not this request" resp.bundle --request req2.bundle

out=$(it_ok on bundle import resp.bundle --anchor root.pem --out-dir certs-out)
it_assert_contains "$out" "wrote 20 certificates" "import writes 20 certificates"
ok=0 keys=0
for i in $(seq -w 1 20); do
	openssl verify -CAfile root.pem "certs-out/node$i.pem" >/dev/null 2>&1 && ok=$((ok + 1))
	[[ "$(openssl x509 -in "certs-out/node$i.pem" -pubkey -noout)" == \
		"$(openssl pkey -in "keys/node$i.key" -pubout)" ]] && keys=$((keys + 1))
done
it_assert_eq 20 "$ok" "openssl: all 20 certificates verify to B's root"
it_assert_eq 20 "$keys" "each certificate carries the key of its own CSR"
openssl crl -in certs-out/crl.pem -CAfile root.pem -noout 2>&1 | grep -q "verify OK" &&
	it_pass "the CRL verifies with B's root" || it_fail "the CRL does not verify"
refused again "already imported" resp.bundle
grep -q '"event":"bundle-import"' "$A/audit.log" && it_pass "A's audit log records the import" ||
	it_fail "no bundle-import in A's audit log"

# --- B's audit log: checkpoints, export, and a consistent rewrite ---
out=$(it_ok off audit verify --anchor b-audit-key.pem)
it_assert_contains "$out" "signed checkpoints verified" "B's log and checkpoints verify"
ncp=$(wc -l <"$B/audit.checkpoints")
((ncp >= 3)) && it_pass "init, ca init and each bundle sign left a checkpoint ($ncp)" ||
	it_fail "only $ncp checkpoints"
it_ok off audit export --from 3 --to 5 --out excerpt.jsonl >/dev/null
it_ok off audit verify-export excerpt.jsonl --anchor b-audit-key.pem >/dev/null
sed -i '1s/"outcome":"ok"/"outcome":"failed"/' excerpt.jsonl
it_expect_fail 1 "does not follow" off audit verify-export excerpt.jsonl --anchor b-audit-key.pem

# Rewrite line K (the bundle-sign-begin of the first signing: a different
# requester) and recompute every later prev and the head.
K=$(grep -n '"event":"bundle-sign-begin"' "$B/audit.log" | head -1 | cut -d: -f1)
cp "$B/audit.log" good.log
cp "$B/audit.log.head" good.head
"$IT_PYTHON" - "$B/audit.log" "$K" <<'EOF'
import hashlib, json, sys
path, k = sys.argv[1], int(sys.argv[2])
lines = open(path, "rb").read().split(b"\n")[:-1]
lines[k - 1] = lines[k - 1].replace(b'"requester":"', b'"requester":"mallory-')
prev = hashlib.sha256(lines[k - 1]).hexdigest()
for i in range(k, len(lines)):
    o = json.loads(lines[i])
    o["prev"] = prev
    lines[i] = json.dumps(o, separators=(",", ":"), ensure_ascii=False).replace("\\/", "/").encode()
    prev = hashlib.sha256(lines[i]).hexdigest()
open(path, "wb").write(b"\n".join(lines) + b"\n")
open(path + ".head", "w").write('{"seq":%d,"hash":"%s"}' % (len(lines), prev))
EOF
grep -q mallory "$B/audit.log" && it_pass "line $K rewritten" || it_fail "the rewrite did not happen"
first_cp=$("$IT_PYTHON" -c '
import json, sys
for l in open(sys.argv[1]):
    c = json.loads(l)
    if c["seq"] >= int(sys.argv[2]):
        print(c["checkpoint"]); break' "$B/audit.checkpoints" "$K")
mv "$B/audit.checkpoints" cps.saved
mv "$B/audit-key.pem" key.saved
rc=0
out=$("$HSMCA" --home "$B" audit verify 2>&1) || rc=$?
it_assert_eq "0" "$rc" "without checkpoints the rewritten chain still verifies (docs/audit.md: no secret in the chain)"
mv cps.saved "$B/audit.checkpoints"
mv key.saved "$B/audit-key.pem"
it_expect_fail 1 "checkpoint $first_cp (signed" off audit verify --anchor b-audit-key.pem
it_assert_contains "$(cat "$IT_ERR")" "the log was rewritten at or before line" \
	"the failure says the log was rewritten"
# A checkpoint re-signed by another key (an attacker without B's token).
cp "$B/audit.checkpoints" cps.good
sed -i "${first_cp}s/\"sig\":\"[^\"]*\"/\"sig\":\"MEUCIQC0\"/" "$B/audit.checkpoints"
it_expect_fail 1 "checkpoint $first_cp: signature does not verify" off audit verify --anchor b-audit-key.pem
cp cps.good "$B/audit.checkpoints"
cp good.log "$B/audit.log"
cp good.head "$B/audit.log.head"
it_ok off audit verify --anchor b-audit-key.pem >/dev/null
it_summary
