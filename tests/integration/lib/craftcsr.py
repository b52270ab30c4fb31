#!/usr/bin/python3
"""Hand-built PKCS#10 CSRs that `openssl req` will not make, correctly
signed (so only the oddity under test can make an issuer refuse them).

    craftcsr.py KIND OUT.der

KIND:
  compressed-p256   a P-256 key in compressed point form (03|x)
  cn-bad-utf8       CN as a UTF8String holding bytes that are not UTF-8
  cn-t61-latin1     CN as a T61String holding a byte >= 0x80
  version-1         CertificationRequestInfo version 1 (only 0 exists)
  dns-nul           a dNSName SAN with a NUL byte inside
  ed25519-params    an Ed25519 key whose AlgorithmIdentifier has parameters
                    (RFC 8410: they MUST be absent; Go refuses such a key)
  rsa-no-null       an RSA key whose AlgorithmIdentifier lacks the NULL
                    parameters (RFC 3279; Go refuses such a key)
"""
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + content


def seq(*parts):
    return tlv(0x30, b"".join(parts))


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


def name_cn(tag, value):
    return seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(tag, value))))


def spki(key, compressed=False):
    if not compressed:
        return key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.CompressedPoint)
    return seq(seq(oid("1.2.840.10045.2.1"), oid("1.2.840.10045.3.1.7")),
               tlv(0x03, b"\x00" + point))


def ext_request(exts):
    # attributes [0] { SEQUENCE { extensionRequest, SET { Extensions } } }
    return tlv(0xA0, seq(oid("1.2.840.113549.1.9.14"), tlv(0x31, seq(*exts))))


def build_other(kind):
    subject = name_cn(0x0C, b"crafted")
    attrs = tlv(0xA0, b"")
    if kind == "ed25519-params":
        key = ed25519.Ed25519PrivateKey.generate()
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        pub = seq(seq(oid("1.3.101.112"), tlv(0x05, b"")), tlv(0x03, b"\x00" + raw))
        info = seq(tlv(0x02, b"\x00"), subject, pub, attrs)
        return seq(info, seq(oid("1.3.101.112")), tlv(0x03, b"\x00" + key.sign(info)))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.PKCS1)
    pub = seq(seq(oid("1.2.840.113549.1.1.1")), tlv(0x03, b"\x00" + der))
    info = seq(tlv(0x02, b"\x00"), subject, pub, attrs)
    sig = key.sign(info, padding.PKCS1v15(), hashes.SHA256())
    return seq(info, seq(oid("1.2.840.113549.1.1.11"), tlv(0x05, b"")), tlv(0x03, b"\x00" + sig))


def build(kind):
    if kind in ("ed25519-params", "rsa-no-null"):
        return build_other(kind)
    key = ec.generate_private_key(ec.SECP256R1())
    version = tlv(0x02, b"\x00")
    subject = name_cn(0x0C, b"crafted")
    pub = spki(key)
    attrs = tlv(0xA0, b"")
    if kind == "compressed-p256":
        pub = spki(key, compressed=True)
    elif kind == "cn-bad-utf8":
        subject = name_cn(0x0C, b"bad\xc3\x28utf8")
    elif kind == "cn-t61-latin1":
        subject = name_cn(0x14, b"J\xfcrgen")
    elif kind == "version-1":
        version = tlv(0x02, b"\x01")
    elif kind == "dns-nul":
        san = seq(tlv(0x82, b"good.example\x00evil.example"))
        attrs = ext_request([seq(oid("2.5.29.17"), tlv(0x04, san))])
    else:
        sys.exit("unknown kind " + kind)
    info = seq(version, subject, pub, attrs)
    sig = key.sign(info, ec.ECDSA(hashes.SHA256()))
    return seq(info, seq(oid("1.2.840.10045.4.3.2")), tlv(0x03, b"\x00" + sig))


with open(sys.argv[2], "wb") as f:
    f.write(build(sys.argv[1]))
