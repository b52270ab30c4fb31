#!/usr/bin/env bash
# The batch pipeline (`hsmca issue --jobs N`) keeps every certificate with its
# CSR and its record: 700 CSRs (more than one pool of 300 items and more than
# one commit group of 256) through 2 sessions, while a second batch and single
# `hsmca sign` runs use the same CA from other processes. Checked for every
# certificate: it is in <name>.crt for the CSR <name>.csr (CN and public key
# match), its serial is unique and recorded once with the certificate's own
# SHA-256, the audit log has one sign event per certificate and its hash
# chain verifies, and Go's crypto/x509 accepts it.
set -euo pipefail
. "${HSMCA_TEST_SRCDIR:?}/tests/integration/lib/common.sh"
: "${HSMCA:?path of the hsmca binary}"
: "${HSMCA_GO_VERIFY:?path of the Go verifier}"

it_setup
cd "$WORK"
N=700
it_ok "$HSMCA" init --softhsm >/dev/null
it_ok "$HSMCA" ca init root --key-type ec-p256 --subject "CN=Batch Root" >/dev/null
ROOT=$HSMCA_HOME/cas/root/ca.pem

# CSRs from python3-cryptography: one key per CSR (so that a mix-up of keys
# would show), fast enough for hundreds.
"$IT_PYTHON" - "$N" <<'EOF'
import os, sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
n = int(sys.argv[1])
for d in ("a", "b"):
    os.mkdir(d)
    for i in range(n):
        k = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "%s-%04d" % (d, i))])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(k, hashes.SHA256())
        enc = serialization.Encoding.DER if i % 3 == 0 else serialization.Encoding.PEM
        ext = "der" if i % 3 == 0 else "csr"
        with open("%s/%s-%04d.%s" % (d, d, i, ext), "wb") as f:
            f.write(csr.public_bytes(enc))
EOF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj /CN=single -out single.csr 2>/dev/null

"$HSMCA" issue root --profile client --csr-dir a --out-dir a-out --jobs 2 >a.out 2>a.err &
A=$!
"$HSMCA" issue root --profile client --csr-dir b --out-dir b-out --jobs 1 >b.out 2>b.err &
B=$!
it_register_pid "$A" "$B"
singles=0
for ((i = 0; i < 10; i++)); do
	if "$HSMCA" sign root --csr single.csr --profile client --out "single-$i.crt" 2>/dev/null; then
		singles=$((singles + 1))
	fi
done
rca=0 rcb=0
wait "$A" || rca=$?
wait "$B" || rcb=$?
it_assert_eq 0 "$rca" "batch a (700 CSRs, --jobs 2) exit 0"
it_assert_eq 0 "$rcb" "batch b (700 CSRs, --jobs 1) exit 0 while a runs"
it_assert_eq 10 "$singles" "10 single signs succeed meanwhile"
it_assert_contains "$(cat a.err)" "issued $N certificates into a-out" "batch a reports $N issued"
it_assert_contains "$(cat b.err)" "issued $N certificates into b-out" "batch b reports $N issued"

# Every certificate against its CSR, the records and the audit log.
it_ok "$IT_PYTHON" - "$N" "$HSMCA_HOME/cas/root/issued.jsonl" "$HSMCA_HOME/audit.log" <<'EOF'
import glob, hashlib, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
n, records_path, audit_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bad = []
records = [json.loads(l) for l in open(records_path)]
by_serial = {}
for r in records:
    if r["serial"] in by_serial:
        bad.append("serial %s recorded twice" % r["serial"])
    by_serial[r["serial"]] = r
signs = [json.loads(l) for l in open(audit_path) if '"event":"sign"' in l]
audited = [e["detail"].get("serial") for e in signs if e["detail"].get("kind") == "certificate"]
if sorted(audited) != sorted(by_serial):
    bad.append("audit sign events (%d) and records (%d) differ" % (len(audited), len(by_serial)))
seen = set()
for d in ("a", "b"):
    crts = sorted(glob.glob("%s-out/*.crt" % d))
    if len(crts) != n:
        bad.append("%s-out holds %d certificates, want %d" % (d, len(crts), n))
    for path in crts:
        name = path.split("/")[-1][:-4]
        raw = open(path, "rb").read()
        cert = x509.load_pem_x509_certificate(raw)
        csr_path = glob.glob("%s/%s.*" % (d, name))[0]
        data = open(csr_path, "rb").read()
        csr = (x509.load_der_x509_csr(data) if csr_path.endswith(".der")
               else x509.load_pem_x509_csr(data))
        cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        if cn != name:
            bad.append("%s: CN %s" % (path, cn))
        spki = lambda k: k.public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
        if spki(cert.public_key()) != spki(csr.public_key()):
            bad.append("%s: public key is not its CSR's" % path)
        serial = "%040x" % cert.serial_number
        if serial in seen:
            bad.append("%s: serial %s used twice" % (path, serial))
        seen.add(serial)
        rec = by_serial.get(serial)
        der = cert.public_bytes(serialization.Encoding.DER)
        if not rec:
            bad.append("%s: serial %s not recorded" % (path, serial))
        elif rec["cert_sha256"] != hashlib.sha256(der).hexdigest():
            bad.append("%s: recorded cert_sha256 is not this certificate's" % path)
        elif rec["csr_key_sha256"] != hashlib.sha256(spki(csr.public_key())).hexdigest():
            bad.append("%s: recorded csr_key_sha256 is not its CSR key's" % path)
        elif rec["subject"] != "CN=" + name:
            bad.append("%s: recorded subject %s" % (path, rec["subject"]))
if len(by_serial) != 2 * n + 10:
    bad.append("%d records, want %d" % (len(by_serial), 2 * n + 10))
print("\n".join(bad[:20]) or "all %d certificates match their CSR, record and audit event" % (2 * n))
sys.exit(1 if bad else 0)
EOF
it_ok "$HSMCA" audit verify >/dev/null
# A sample through Go's verifier (the names ending in 00, both directories).
n_ok=0
while IFS= read -r -d '' f; do
	"$HSMCA_GO_VERIFY" --roots "$ROOT" --eku client "$f" >/dev/null && n_ok=$((n_ok + 1))
done < <(find a-out b-out -name '*00.crt' -print0)
it_assert_eq "$(find a-out b-out -name '*00.crt' | wc -l)" "$n_ok" "Go accepts the sampled batch certificates"
# `certs list` sees them all.
listed=$("$HSMCA" --json certs list root | "$IT_PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(len(d if isinstance(d, list) else d.get("certificates", [])))')
it_assert_eq "$((2 * N + 10))" "$listed" "certs list shows every issued certificate"

it_summary
