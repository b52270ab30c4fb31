#!/usr/bin/python3
"""Compare issued certificates with what their profile must produce.

    certcheck.py GO_VERIFY CERT ROOT EXPECT_JSON
    certcheck.py GO_VERIFY --batch FILE    (lines "CERT<TAB>ROOT<TAB>EXPECT_JSON")

Single mode prints one line per mismatch and exits 1 if any.  Batch mode
prints "OK CERT" or "BAD CERT: reasons" per line (one process for many
certificates) and exits 1 if any is bad.

EXPECT_JSON keys (all optional except cn):
  cn           exact subject CN
  o            exact list of subject O values (order kept)
  eku          exact set of extended key usages (Go names: serverAuth, ...)
  ku           exact set of key usages (Go names)
  ca           bool: basicConstraints cA (default false)
  path_len     int: pathLenConstraint of a CA; -1 = absent
  dns, ip, uri, email   exact SAN sets (default: none)
  validity_days  notAfter - notBefore = the validity (backdating at most ~5 min)
  key          publicKey string of Go's --show ("ECDSA P-256", ...)

Always checked, through Go's crypto/x509 (the verifier's --show): version 3,
basicConstraints present, the exact set of extensions with their criticality
(KU and BC critical; EKU, SKI, AKI, SAN not), SKI equal to RFC 5280 method 1
(SHA-1 of the subjectPublicKey bits, computed by python3-cryptography), AKI
equal to the issuer's SKI, issuer = the root's subject, a positive serial of
at least 16 bytes, notBefore not in the future, the issuer's signature
algorithm.
"""
import datetime
import json
import subprocess
import sys

from cryptography import x509


def show(go, path):
    out = subprocess.run([go, "--show", path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def check(go, cert_path, root_path, want):
    got = show(go, cert_path)
    root = show(go, root_path)
    bad = []

    def expect(name, want_v, got_v):
        if want_v != got_v:
            bad.append("%s: want %r, got %r" % (name, want_v, got_v))

    expect("CN", want["cn"], got["subjectCommonName"])
    if "o" in want:
        expect("O", want["o"], got["subjectOrganization"] or [])
    if "eku" in want:
        expect("EKU", sorted(want["eku"]), sorted(got["extKeyUsage"] or []))
    if "ku" in want:
        expect("KU", sorted(want["ku"]), sorted(got["keyUsage"] or []))
    expect("isCA", want.get("ca", False), got["isCA"])
    expect("basicConstraintsValid", True, got["basicConstraintsValid"])
    if want.get("ca", False):
        expect("maxPathLen", want.get("path_len", -1), got["maxPathLen"])
    for kind, field in (("dns", "dnsNames"), ("ip", "ipAddresses"), ("uri", "uris"),
                        ("email", "emailAddresses")):
        expect("SAN " + kind, sorted(want.get(kind, [])), sorted(got[field] or []))
    if "key" in want:
        expect("public key", want["key"], got["publicKey"])
    expect("version", 3, got["version"])
    expect("issuer", root["subject"], got["issuer"])
    expect("AKI = issuer SKI", root["subjectKeyId"], got["authorityKeyId"])
    expect("signature algorithm", root["signatureAlgorithm"], got["signatureAlgorithm"])

    serial = got["serial"]
    if len(serial) < 31 or serial.startswith("-"):
        bad.append("serial %s: want a positive serial of at least 16 bytes" % serial)

    exts = {e["oid"]: e["critical"] for e in got["extensions"]}
    want_exts = {"2.5.29.15": True, "2.5.29.19": True, "2.5.29.14": False, "2.5.29.35": False}
    if got["extKeyUsage"]:
        want_exts["2.5.29.37"] = False
    if any(got[f] for f in ("dnsNames", "ipAddresses", "uris", "emailAddresses")):
        want_exts["2.5.29.17"] = False
    expect("extensions {oid: critical}", want_exts, exts)
    if len(got["extensions"]) != len(exts):
        bad.append("an extension appears twice")

    with open(cert_path, "rb") as f:
        c = x509.load_pem_x509_certificate(f.read())
    ski = x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest.hex()
    expect("SKI (method 1)", ski, got["subjectKeyId"])

    now = datetime.datetime.now(datetime.timezone.utc)
    nb = datetime.datetime.fromisoformat(got["notBefore"].replace("Z", "+00:00"))
    na = datetime.datetime.fromisoformat(got["notAfter"].replace("Z", "+00:00"))
    if nb > now + datetime.timedelta(seconds=5):
        bad.append("notBefore %s is in the future" % got["notBefore"])
    if "validity_days" in want:
        # The lifetime is exactly what was asked (notBefore may be backdated a
        # few minutes for clock skew, or clamped to a fresh issuer's), and it
        # ends no later than now + the validity.
        life = (na - nb).total_seconds() - want["validity_days"] * 86400
        late = (na - now).total_seconds() - want["validity_days"] * 86400
        if not (-400 <= life <= 0) or late > 120 or late < -600:
            bad.append("notAfter %s / notBefore %s is not a %d-day lifetime ending by now + %d days"
                       % (got["notAfter"], got["notBefore"], want["validity_days"], want["validity_days"]))
    return bad


def main():
    go = sys.argv[1]
    if sys.argv[2] == "--batch":
        failed = 0
        with open(sys.argv[3]) as f:
            for line in f:
                cert_path, root_path, want = line.rstrip("\n").split("\t")
                bad = check(go, cert_path, root_path, json.loads(want))
                if bad:
                    failed += 1
                    print("BAD %s: %s" % (cert_path, "; ".join(bad)))
                else:
                    print("OK %s" % cert_path)
        sys.exit(1 if failed else 0)
    bad = check(go, sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
    for b in bad:
        print("%s: %s" % (sys.argv[2], b))
    sys.exit(1 if bad else 0)


main()
