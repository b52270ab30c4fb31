#!/usr/bin/python3
"""A corpus of PKCS#10 requests, malformed and valid, built by hand in DER
(python3-cryptography only makes keys and signatures), so every oddity is
exactly the one named.  Keys are made at run time; nothing secret is kept.

    gen_corpus.py OUTDIR

writes OUTDIR/<name>.csr|.pem|.der and OUTDIR/MANIFEST, one line per file:

    <file> TAB ok
    <file> TAB refuse TAB <text the refusal must contain>

Every bad request is correctly signed for the key it states, where such a
signature exists (not for keys nobody can hold), so only the oddity under
test can make an issuer refuse it.  Requests are
built for the permissive `client` profile (CN and O from the request; DNS,
IP, URI and email SANs).
"""
import base64
import os
import random
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

OUT = sys.argv[1]
MANIFEST = []


# ---- DER ----

def tlv(tag, content, long_len=False):
    n = len(content)
    if n < 0x80 and not long_len:
        head = bytes([n])
    else:
        b = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + content


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def dset(*parts):
    return tlv(0x31, b"".join(parts))


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7F]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, out)


def integer(v):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")  # always room for the sign bit
    if len(b) > 1 and b[0] == 0 and not b[1] & 0x80:
        b = b[1:]
    return tlv(0x02, b)


def bits(content, unused=0):
    return tlv(0x03, bytes([unused]) + content)


NULL = tlv(0x05, b"")
UTF8, PRINTABLE, IA5 = 0x0C, 0x13, 0x16
CN, O, OU = "2.5.4.3", "2.5.4.10", "2.5.4.11"


def rdn(typ, value, tag=UTF8):
    return dset(seq(oid(typ), tlv(tag, value.encode() if isinstance(value, str) else value)))


def name(*rdns):
    return seq(*rdns)


def ext(oid_s, value, critical=None):
    parts = [oid(oid_s)]
    if critical is not None:
        parts.append(tlv(0x01, bytes([critical])))
    parts.append(tlv(0x04, value))
    return seq(*parts)


def ext_req(*exts):
    return seq(oid("1.2.840.113549.1.9.14"), dset(seq(*exts)))


def attrs(*attributes):
    return tlv(0xA0, b"".join(attributes))


def san(*names):
    return ext("2.5.29.17", seq(*names))


def dns(s):
    return tlv(0x82, s.encode())


def ip(b):
    return tlv(0x87, bytes(b))


# ---- keys ----

class Key:
    """A key and how it signs; spki() is its SubjectPublicKeyInfo."""

    def __init__(self, kind):
        self.kind = kind
        if kind == "p256":
            self.k = ec.generate_private_key(ec.SECP256R1())
        elif kind == "p384":
            self.k = ec.generate_private_key(ec.SECP384R1())
        elif kind == "ed25519":
            self.k = ed25519.Ed25519PrivateKey.generate()
        elif kind.startswith("rsa"):
            self.k = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))

    def spki(self):
        return self.k.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)

    def alg(self):
        if self.kind == "p256":
            return seq(oid("1.2.840.10045.4.3.2"))
        if self.kind == "p384":
            return seq(oid("1.2.840.10045.4.3.3"))
        if self.kind == "ed25519":
            return seq(oid("1.3.101.112"))
        return seq(oid("1.2.840.113549.1.1.11"), NULL)

    def sign(self, data):
        if self.kind in ("p256", "p384"):
            h = hashes.SHA256() if self.kind == "p256" else hashes.SHA384()
            return self.k.sign(data, ec.ECDSA(h))
        if self.kind == "ed25519":
            return self.k.sign(data)
        return self.k.sign(data, padding.PKCS1v15(), hashes.SHA256())


KEYS = {k: Key(k) for k in ("p256", "p384", "ed25519", "rsa2048")}


def info(subject, spki, attributes=None, version=0, extra=b""):
    if attributes is None:
        attributes = attrs()
    return seq(integer(version), subject, spki, attributes, extra) if attributes != b"" \
        else seq(integer(version), subject, spki, extra)


def csr(key, cri, alg=None, sig=None, unused=0):
    if sig is None:
        sig = key.sign(cri)
    return seq(cri, alg if alg is not None else key.alg(), bits(sig, unused))


def simple(key="p256", cn="corpus", extra_attrs=(), **kw):
    k = KEYS[key]
    return csr(k, info(name(rdn(CN, cn)), k.spki(), attrs(*extra_attrs), **kw))


def pem(der, label="CERTIFICATE REQUEST", end_label=None, eol="\n"):
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----%s%s%s-----END %s-----%s" % (
        label, eol, eol.join(lines), eol, end_label or label, eol)).encode()


def emit(fname, data, expect, why=""):
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)
    MANIFEST.append("%s\t%s\t%s" % (fname, expect, why) if why else "%s\t%s" % (fname, expect))


def good(fname, data):
    emit(fname, data, "ok")


def bad(fname, data, why):
    emit(fname, data, "refuse", why)


# ---- hostile keys ----

def rsa_spki(n, e, n_bytes=None):
    nb = integer(n) if n_bytes is None else tlv(0x02, n_bytes)
    return seq(seq(oid("1.2.840.113549.1.1.1"), NULL), bits(seq(nb, integer(e))))


def rsa_raw_csr(n, e, d, n_bytes=None, cn="rsa-oddity"):
    """Signed with textbook RSA and PKCS#1 v1.5 padding by (n, d): the
    signature is valid for the key as stated, however weak."""
    cri = info(name(rdn(CN, cn)), rsa_spki(n, e, n_bytes))
    h = hashes.Hash(hashes.SHA256())
    h.update(cri)
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + h.finalize()
    k = (n.bit_length() + 7) // 8
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info)) + b"\x00" + digest_info
    s = pow(int.from_bytes(em, "big"), d, n)
    return csr(None, cri, alg=seq(oid("1.2.840.113549.1.1.11"), NULL), sig=s.to_bytes(k, "big"))


def is_probable_prime(n, rounds=32):
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    rnd = random.Random(n)
    for _ in range(rounds):
        a = rnd.randrange(2, n - 1)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def next_prime(n):
    n |= 1
    while not is_probable_prime(n):
        n += 2
    return n


def rsa_from_primes(p, q, e=65537):
    n = p * q
    d = pow(e, -1, (p - 1) * (q - 1))
    return n, d


def keys_rsa():
    real = KEYS["rsa2048"].k.private_numbers()
    p, q = real.p, real.q
    n = p * q
    phi = (p - 1) * (q - 1)
    # e = 1: every "signature" verifies; e = 3, 65535 odd but small; 65538 even.
    bad("rsa-e1.der", rsa_raw_csr(n, 1, 1), "below 65537")
    bad("rsa-e3.der", rsa_raw_csr(n, 3, 1), "below 65537")
    bad("rsa-e-even.der", rsa_raw_csr(n, 65538, 1), "is even")
    bad("rsa-e-large.der", rsa_raw_csr(n, 2**31 + 1, 1), "too large")
    d = pow(65537, -1, phi)
    nb = n.to_bytes(256, "big")
    bad("rsa-modulus-nonminimal.der", rsa_raw_csr(n, 65537, d, b"\x00\x00" + nb), "minimally encoded")
    bad("rsa-modulus-negative.der", rsa_raw_csr(n, 65537, d, nb), "minimally encoded")
    # A modulus that is 3 times a large odd number: divisible by a small prime.
    m = 3 * (((1 << 2047) // 3) | 1)
    while m.bit_length() != 2048:
        m += 6
    bad("rsa-small-factor.der", rsa_raw_csr(m, 65537, 1), "divisible by 3")
    bad("rsa-even-modulus.der", rsa_raw_csr(n + 1, 65537, 1), "even")
    # Two primes next to each other: Fermat's method factors n at once.
    rnd = random.Random(4242)
    p1 = next_prime(rnd.getrandbits(1024) | (1 << 1023) | (1 << 1022))
    q1 = next_prime(p1 + 2)
    fn, fd = rsa_from_primes(p1, q1)
    bad("rsa-fermat.der", rsa_raw_csr(fn, 65537, fd), "Fermat")
    # 2056 bits: not one of 2048/3072/4096.
    p2 = next_prime(rnd.getrandbits(1028) | (3 << 1026))
    q2 = next_prime(rnd.getrandbits(1028) | (3 << 1026))
    n2, d2 = rsa_from_primes(p2, q2)
    if n2.bit_length() == 2056:
        bad("rsa-2056.der", rsa_raw_csr(n2, 65537, d2), "accepted RSA sizes")
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_numbers()
    bad("rsa-1024.der", rsa_raw_csr(small.public_numbers.n, 65537, small.d), "RSA-1024")


ED_P = 2**255 - 19


def ed25519_small_order():
    """The eight points of small order, computed from the curve equation
    (not copied from a list): identity, (0,-1), (±sqrt(-1), 0) and the four
    of order 8, as 32-byte encodings (y little endian, sign of x on top)."""
    p = ED_P
    d = (-121665 * pow(121666, p - 2, p)) % p

    def sqrt(a):
        a %= p
        x = pow(a, (p + 3) // 8, p)
        if (x * x - a) % p:
            x = x * pow(2, (p - 1) // 4, p) % p
        return x if (x * x - a) % p == 0 else None

    def enc(x, y):
        return (y | ((x & 1) << 255)).to_bytes(32, "little")

    pts = [(0, 1), (0, p - 1)]
    i = sqrt(p - 1)
    pts += [(i, 0), (p - i, 0)]
    s = sqrt(1 + d)
    for sg in (1, -1):
        y2 = (-1 + sg * s) * pow(d, p - 2, p) % p
        y = sqrt(y2)
        if y is None:
            continue
        for yy in (y, p - y):
            x = sqrt(-yy * yy)
            if x is not None:
                pts += [(x, yy), (p - x, yy)]
    assert len(pts) == 8, pts
    return [enc(x, y) for x, y in pts]


def keys_ed25519():
    for i, pt in enumerate(ed25519_small_order()):
        spki = seq(seq(oid("1.3.101.112")), bits(pt))
        cri = info(name(rdn(CN, "small-order")), spki)
        # R = the identity, S = 0: what "verifies" under a small-order key.
        sig = (1).to_bytes(32, "little") + bytes(32)
        bad("ed25519-small-order-%d.der" % i, csr(None, cri, alg=seq(oid("1.3.101.112")), sig=sig),
            "small order")
    # y = p + 1: a second encoding of the identity.
    y = (ED_P + 1).to_bytes(32, "little")
    cri = info(name(rdn(CN, "noncanonical")), seq(seq(oid("1.3.101.112")), bits(y)))
    bad("ed25519-noncanonical.der", csr(None, cri, alg=seq(oid("1.3.101.112")), sig=bytes(64)),
        "canonical")


def keys_spki():
    a, b = KEYS["p256"], Key("p256")
    a_spki, b_spki = a.spki(), b.spki()
    # SEQUENCE { alg, BIT STRING (key A), BIT STRING (key B) }, signed by B:
    # a lenient reader certifies A, which the requester never proved to hold.
    alg = a_spki[2:2 + 2 + a_spki[3]]
    bits_a = a_spki[2 + len(alg):]
    bits_b = b_spki[2 + len(alg):]
    two = seq(alg, bits_a, bits_b)
    cri = info(name(rdn(CN, "two-keys")), two)
    bad("spki-two-bitstrings.der", csr(b, cri), "after its BIT STRING")
    cri = info(name(rdn(CN, "trailing")), seq(alg, bits_a, NULL))
    bad("spki-trailing-data.der", csr(a, cri), "after its BIT STRING")
    point = a_spki[-65:]
    cri = info(name(rdn(CN, "unused7")), seq(alg, bits(point, unused=7)))
    bad("spki-unused-7.der", csr(a, cri), "unused bits")
    off = bytearray(point)
    off[-1] ^= 1
    cri = info(name(rdn(CN, "off-curve")), seq(alg, bits(bytes(off))))
    bad("ec-off-curve.der", csr(a, cri), "not a valid point")
    cri = info(name(rdn(CN, "infinity")), seq(alg, bits(b"\x00")))
    bad("ec-infinity.der", csr(a, cri), "infinity")
    cri = info(name(rdn(CN, "explicit")), seq(seq(oid("1.2.840.10045.2.1"), NULL), bits(point)))
    bad("ec-no-named-curve.der", csr(a, cri), "named curve")


def structure():
    k = KEYS["p256"]
    spki = k.spki()
    subj = name(rdn(CN, "structure"))
    good_der = simple()
    bad("trailing-after-request.der", good_der + b"\x00\x00", "trailing data")
    bad("no-attributes.der", csr(k, info(subj, spki, attributes=b"")), "attributes field is missing")
    bad("extra-field-in-info.der", csr(k, info(subj, spki, extra=integer(7))), "extra data after")
    bad("version-1.der", csr(k, info(subj, spki, version=1)), "version")
    bad("version-2.der", csr(k, info(subj, spki, version=2)), "version")
    cri = info(subj, spki)
    bad("sig-unused-bits.der", csr(k, cri, unused=1), "malformed CertificationRequest")
    bad("extra-field-in-request.der", seq(cri, k.alg(), bits(k.sign(cri)), NULL),
        "malformed CertificationRequest")
    sig = bytearray(k.sign(cri))
    sig[-1] ^= 1
    bad("forged-signature.der", csr(k, cri, sig=bytes(sig)), "does not verify")
    # Lengths that are not DER: long form for a short length; indefinite.
    long = seq(tlv(0x30, cri[2:], long_len=True), k.alg(), bits(k.sign(cri)))
    bad("nonminimal-length.der", long, "malformed CertificationRequest")
    bad("indefinite-length.der", b"\x30\x80" + good_der[2:] + b"\x00\x00", "not DER")
    bad("truncated.der", good_der[:-10], "not DER")
    bad("ecdsa-alg-with-null.der", csr(k, cri, alg=seq(oid("1.2.840.10045.4.3.2"), NULL)),
        "parameters it must not have")
    e = KEYS["ed25519"]
    ecri = info(subj, e.spki())
    bad("ed25519-alg-with-null.der", csr(e, ecri, alg=seq(oid("1.3.101.112"), NULL)),
        "parameters it must not have")
    bad("sig-alg-mismatch.der", csr(k, cri, alg=seq(oid("1.2.840.113549.1.1.11"), NULL)),
        "does not match")


def names():
    k = KEYS["p256"]
    spki = k.spki()
    many = name(*[rdn(OU, "u%d" % i) for i in range(1000)] + [rdn(CN, "many")])
    bad("rdn-1000.der", csr(k, info(many, spki)), "more than 32 RDNs")
    mv = name(dset(seq(oid(CN), tlv(UTF8, b"a")), seq(oid(O), tlv(UTF8, b"b"))))
    bad("rdn-multivalued.der", csr(k, info(mv, spki)), "multi-valued RDN")
    bad("rdn-empty-set.der", csr(k, info(name(dset()), spki)), "malformed CSR subject")
    bad("cn-twice.der", csr(k, info(name(rdn(CN, "a"), rdn(CN, "b")), spki)), "more than one CN")
    bad("cn-printable-at.der", csr(k, info(name(rdn(CN, "a@b", PRINTABLE)), spki)), "CN is not")
    bad("cn-utf8-invalid.der", csr(k, info(name(rdn(CN, b"x\xc3\x28", UTF8)), spki)), "CN is not")
    bad("cn-control.der", csr(k, info(name(rdn(CN, "a\nb")), spki)), "CN is not")
    bad("cn-not-string.der", csr(k, info(name(dset(seq(oid(CN), integer(5)))), spki)),
        "not a string")
    bad("atv-extra-field.der",
        csr(k, info(name(dset(seq(oid(CN), tlv(UTF8, b"a"), tlv(UTF8, b"b")))), spki)),
        "malformed CSR subject attribute")
    bad("oid-nonminimal.der",
        csr(k, info(name(dset(seq(tlv(0x06, b"\x55\x80\x04\x03"), tlv(UTF8, b"a")))), spki)),
        "malformed CSR subject attribute")
    bad("o-system-masters.der", csr(k, info(name(rdn(O, "system:masters"), rdn(CN, "eve")), spki)),
        "reserved Kubernetes name")
    bad("cn-kube-controller-manager.der",
        csr(k, info(name(rdn(CN, "system:kube-controller-manager")), spki)),
        "reserved Kubernetes name")


def extensions():
    k = KEYS["p256"]
    spki = k.spki()
    subj = name(rdn(CN, "ext"))

    def with_attrs(*a):
        return csr(k, info(subj, spki, attrs(*a)))

    s1 = san(dns("a.example.test"))
    bad("ext-bool-nonder.der", with_attrs(ext_req(ext("2.5.29.17", seq(dns("a.example.test")), 0x01))),
        "non-DER BOOLEAN")
    bad("ext-bool-false-explicit.der",
        with_attrs(ext_req(ext("2.5.29.17", seq(dns("a.example.test")), 0x00))), "non-DER BOOLEAN")
    bad("bc-bool-nonder.der",
        with_attrs(ext_req(ext("2.5.29.19", seq(tlv(0x01, b"\x01")), 0xFF))), "non-DER BOOLEAN")
    bad("san-duplicated.der", with_attrs(ext_req(s1, san(dns("b.example.test")))), "twice")
    bad("extreq-twice.der", with_attrs(ext_req(s1), ext_req(san(dns("b.example.test")))),
        "two extensionRequest")
    two_values = seq(oid("1.2.840.113549.1.9.14"), dset(seq(s1), seq(san(dns("b.example.test")))))
    bad("extreq-two-values.der", with_attrs(two_values), "more than one value")
    bad("san-empty.der", with_attrs(ext_req(ext("2.5.29.17", seq()))), "empty subjectAltName")
    bad("san-trailing.der",
        with_attrs(ext_req(ext("2.5.29.17", seq(dns("a.example.test")) + NULL))),
        "malformed subjectAltName")
    bad("san-othername.der", with_attrs(ext_req(ext("2.5.29.17", seq(tlv(0xA0, oid("1.2.3") + tlv(0xA0, NULL)))))),
        "SAN kind")
    bad("attr-empty-set.der", with_attrs(seq(oid("1.2.840.113549.1.9.7"), dset())), "malformed CSR attribute")
    bad("eku-empty.der", with_attrs(ext_req(ext("2.5.29.37", seq()))), "malformed extKeyUsage")
    bad("ku-padding-bits.der", with_attrs(ext_req(ext("2.5.29.15", bits(b"\x81", unused=7), 0xFF))),
        "malformed keyUsage")
    bad("ext-after-value.der",
        with_attrs(ext_req(seq(oid("2.5.29.17"), tlv(0x04, seq(dns("a.example.test"))), NULL))),
        "malformed extension request")
    bad("ca-true.der", with_attrs(ext_req(ext("2.5.29.19", seq(tlv(0x01, b"\xff")), 0xFF))), "CA:TRUE")
    for fname, n, why in (("san-wildcard-com.der", dns("*.com"), "public suffix"),
                          ("san-wildcard-co-uk.der", dns("*.co.uk"), "public suffix"),
                          ("san-wildcard-github-io.der", dns("*.github.io"), "public suffix"),
                          ("san-ip-zero.der", ip([0, 0, 0, 0]), "does not name a host"),
                          ("san-ip6-unspecified.der", ip([0] * 16), "does not name a host"),
                          ("san-ip-multicast.der", ip([224, 0, 0, 1]), "does not name a host"),
                          ("san-ip6-multicast.der", ip([0xff, 2] + [0] * 13 + [1]), "does not name a host"),
                          ("san-ip-broadcast.der", ip([255] * 4), "does not name a host"),
                          ("san-ip-mapped-zero.der", ip([0] * 10 + [0xff, 0xff, 0, 0, 0, 0]),
                           "does not name a host")):
        bad(fname, with_attrs(ext_req(ext("2.5.29.17", seq(n)))), why)


def armour():
    der = simple(cn="pem")
    bad("pem-mismatched-labels.pem", pem(der, end_label="CERTIFICATE"), "labels differ")
    bad("pem-two-csrs.pem", pem(der) + pem(simple(cn="second")), "after its END line")
    bad("pem-wrong-label.pem", pem(der, label="CERTIFICATE"), "not a CERTIFICATE REQUEST")
    bad("pem-text-before.pem", b"Certificate Request:\n" + pem(der), "not a CSR")
    bad("pem-no-end.pem", pem(der).rsplit(b"-----END", 1)[0], "truncated")
    bad("pem-bad-base64.pem", pem(der).replace(b"M", b"!", 1), "base64")
    bad("pem-trailing-der.pem", pem(der + b"\x00"), "trailing data")
    bad("empty.csr", b"", "empty")


def valid():
    for kind in ("p256", "p384", "ed25519", "rsa2048"):
        good("good-%s.der" % kind, simple(kind, cn="good-" + kind))
    good("good-rsa3072.der", simple_key(Key("rsa3072"), "good-rsa3072"))
    k = KEYS["p256"]
    spki = k.spki()
    good("good-pem.csr", pem(simple(cn="good-pem")))
    good("good-pem-new-label.pem", pem(simple(cn="good-new"), label="NEW CERTIFICATE REQUEST"))
    good("good-pem-crlf.pem", b"\r\n" + pem(simple(cn="good-crlf"), eol="\r\n") + b"\n\n")
    good("good-sans.der", csr(k, info(name(rdn(O, "dev"), rdn(CN, "good-sans")), spki, attrs(ext_req(
        san(dns("a.example.test"), dns("*.example.test"), ip([10, 0, 0, 1]),
            ip([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1]), tlv(0x86, b"spiffe://example.test/a"),
            tlv(0x81, b"ops@example.test")),
        ext("2.5.29.15", bits(b"\x80", unused=7), 0xFF),
        ext("2.5.29.37", seq(oid("1.3.6.1.5.5.7.3.2"))),
        ext("2.5.29.19", seq()))))))
    # No subject at all, the identity in the SAN: valid (RFC 5280 4.1.2.6).
    good("good-empty-subject-san.der", csr(k, info(name(), spki, attrs(ext_req(
        san(dns("only-san.example.test")))))))
    good("good-printable-cn.der", csr(k, info(name(rdn(CN, "Good Printable", PRINTABLE)), spki)))
    good("good-challenge-attr.der", csr(k, info(name(rdn(CN, "good-attr")), spki, attrs(
        seq(oid("1.2.840.113549.1.9.7"), dset(tlv(UTF8, b"secret")))))))


def simple_key(key, cn):
    return csr(key, info(name(rdn(CN, cn)), key.spki()))


os.makedirs(OUT, exist_ok=True)
valid()
structure()
names()
extensions()
armour()
keys_spki()
keys_ed25519()
keys_rsa()
with open(os.path.join(OUT, "MANIFEST"), "w") as f:
    f.write("\n".join(MANIFEST) + "\n")
