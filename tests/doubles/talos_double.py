#!/usr/bin/python3
"""Talos API double for hsmca's tests.  Run it with /usr/bin/python3 (Debian's
python3-grpcio, python3-cryptography and python3-yaml); the pyenv python in
PATH has no grpc.

THIS IS A TEST DOUBLE, not Talos.  It starts N fake Talos nodes on 127.0.0.1,
each on its own free port, each serving the few Talos API calls hsmca makes,
over gRPC with mutual TLS:

    talos_double.py --state-dir D \
        --nodes cp1:controlplane,cp2:controlplane,w1:worker \
        [--kube-ca-doc cp1,w1|all] [--deadline 1800] [--ready-file D/ready.json]
        [--pid-file D/talos_double.pid] [--spec nodes.json|nodes.yaml]
        [--kube-client-ca-dir DIR] [--kube-ca-out DIR]

--spec takes {"nodes": [{"name": "cp1", "role": "controlplane"}, ...],
"kube_ca_doc": ["cp1"]} (JSON or YAML) instead of --nodes/--kube-ca-doc.

What it implements faithfully (see /work/shared/reference/talos.md):
  * A Talos-like PKI made fresh in memory: machine CA Ed25519 O=talos (10 y),
    Kubernetes / etcd / aggregator CAs ECDSA P-256, a service-account RSA key
    (2048 bits here, 4096 in Talos, to start fast).  Node server certificates
    (ECDSA P-256, IP SAN 127.0.0.1 and the node name as DNS SAN) are signed
    by the machine CA.  The machine CA key is in every control-plane node's
    machine config and not in workers' (`key: ""`, as talosctl gen config
    writes it).  Ed25519 keys are written as PKCS#8 under the PEM label
    `ED25519 PRIVATE KEY`, EC keys as `EC PRIVATE KEY`, as Talos does.
  * Each node's machine config is a multi-document YAML: the v1alpha1
    document (version, machine{type, token, ca, certSANs, kubelet, network,
    install, features}, cluster{id, secret, controlPlane, clusterName,
    network, token, ca, aggregatorCA, serviceAccount, etcd, ...}) with
    talosctl-style comments and 4-space indentation, plus, for the nodes
    named by --kube-ca-doc, a `kind: KubeAPIServerCAConfig` document
    (issuingCA {cert, key (control plane only)}, acceptedCAs: plain PEM).
  * mTLS with grpc.dynamic_ssl_server_credentials: a node's client-CA set is
    machine.ca.crt + machine.acceptedCAs[].crt of its CURRENT config,
    recomputed at every new TLS handshake (an open connection keeps working,
    as with apid).  When machine.ca.crt changes the node's server
    certificate is re-issued by the new CA (its key is taken from this node's
    config, or from a control-plane node holding it, as trustd would).
  * /machine.MachineService/Version, /machine.MachineService/ApplyConfiguration
    and /cosi.resource.State/Get (namespace config, type
    MachineConfigs.config.talos.dev, id v1alpha1), hand-encoded protobuf with
    Talos's field numbers; any other method is UNIMPLEMENTED.
  * Roles from the client certificate's Organization: Version needs any os:*
    role, ApplyConfiguration and Get need os:admin, else PERMISSION_DENIED
    "not authorized".
  * The `node` metadata, routed as apid's director does: a control plane
    proxies to the named node (matched by address, or by name standing in
    for a host name); a worker serves a value naming itself and answers
    anything else PERMISSION_DENIED "no request forwarding"; a value with a
    port is INTERNAL 'invalid target'; an unknown or down target is
    UNAVAILABLE; `proxyfrom` is served locally.  Proxied Version/Apply
    replies carry metadata.hostname = the node value.  The caller's role and
    certificate are checked by the receiving node, as apid does; the
    target's client-CA set is not consulted for proxied calls.
  * Per-node address, reach and version (--spec fields ip, direct,
    version): a node with direct=false has no listener and is reachable
    only through an endpoint; below v1.7.0 acceptedCAs are refused.
  * ApplyConfiguration checks: the data parses as YAML (all documents); it
    has a v1alpha1 document; machine.type is unchanged; a control plane keeps
    a non-empty machine.ca.key, a worker has none; every accepted CA entry is
    a PEM certificate.  Modes AUTO(1), NO_REBOOT(2), TRY(4, reverted after
    try_mode_timeout, default 60 s) are accepted; REBOOT(0) is UNIMPLEMENTED
    (as outside maintenance mode), STAGED(3) is UNIMPLEMENTED here.  dry_run validates
    only.  A stored config bumps the node's config version.

Kubernetes side (for a Kubernetes API double that plays kube-apiserver on
the control planes, e.g. tests/doubles/kube_double.py --apiserver):
  --kube-client-ca-dir DIR  for every control-plane node, DIR/<name>.pem is
        that node's kube-apiserver client-CA bundle as Talos derives it from
        the node's CURRENT config: the Kubernetes issuing CA first, then the
        accepted CAs, PEM concatenated.  Where the config has a
        KubeAPIServerCAConfig document, that document is what counts
        (issuingCA.cert + its acceptedCAs, plain PEM) and cluster.ca /
        cluster.acceptedCAs are not read; otherwise cluster.ca.crt +
        cluster.acceptedCAs[].crt (base64 of PEM).  Written by rename at
        start-up and again each time the node stores a config that differs
        from the previous one (ApplyConfiguration, not dry_run; a TRY-mode
        config rolled back).  Workers get no file (they run no apiserver).
  --kube-ca-out DIR  writes DIR/kube-ca.crt and DIR/kube-ca.key (0600,
        `EC PRIVATE KEY`): the cluster's Kubernetes CA (cluster.ca of the
        configs), e.g. for the Kubernetes double's --issuing-ca-cert/-key.
        It is the double's own test key: the security oracle is told so
        (as /allow_key would), so it is never a violation, even on a worker.

What it does NOT do: no real Talos services, no reboot, no config patch
semantics beyond what is listed, no multi-node (`nodes` metadata) fan-out,
no trustd, no etcd/Kubernetes, no Talos validation beyond the checks above,
error messages are Talos-like but not byte-identical.  Chain building is
OpenSSL's (grpc-core), not Go's: when two CAs share a subject (Talos machine
CAs are all O=talos), a client certificate needs an authorityKeyIdentifier
for the right CA to be found (Go's crypto/x509 tries every candidate); the
certificates the double issues carry one, as Go's do.

Control endpoint (HTTP, 127.0.0.1, port in ready.json "control"):
  GET  /state                  nodes: role, port, up, config_version,
                               machine_ca / accepted CA SHA-256 fingerprints,
                               faults; and the violation count.  No keys.
  GET  /violations             security-oracle findings (fingerprints only)
  GET  /requests               every RPC seen: node, via, method, roles, code
  GET|POST /fault?node=N&...   (or a JSON body) set faults on node N:
        down=1|0               stop the node's gRPC server (connections are
                               refused) / start it again on the same port
        delay_ms=X             delay every call served by N (a delayed call
                               goes on at once when delay_ms changes or on
                               clear=1)
        unavailable=n          the next n calls to N fail UNAVAILABLE
        apply_unavailable=n    the next n ApplyConfiguration fail UNAVAILABLE
        apply_internal=1|0     every ApplyConfiguration fails INTERNAL
        version=vX.Y.Z         the node's Version tag from now on (below v1.7.0
                               it refuses configs carrying acceptedCAs)
        stubborn=1|0           the node keeps trusting (for new TLS
                               handshakes) every machine CA / accepted CA its
                               config ever listed: a node that does not
                               apply a removal
        yaml_spec_only=1|0     COSI Get answers with Spec.yaml_spec only (no
                               proto_spec): the config as a YAML string
        clear=1                reset all of N's faults (and bring it up)
        hostile_config=K       (issue 11) N answers Get(MachineConfig) with a
                               hostile document instead of its config:
                               K=alias_bomb (a 10^8-leaf YAML alias bomb)
                               or deep_flow (200 KB of nested "[[[["); empty
                               or clear=1 stops it.  Applies are unaffected.
  POST /allow_key?der_sha256=H  do not report that key (SHA-256 of its DER)
                               as a violation: for a test that deliberately
                               sends a new machine CA key (a software swap)
  POST /shutdown               stop the double

Security oracle: every ApplyConfiguration is inspected on arrival; a private
key (PEM block, plain or inside a base64 scalar) that is not among the
target node's current config keys (nor allowed by /allow_key) is recorded
as a violation
(node, method, PEM label, SHA-256 of the DER; never the key).  Test
harnesses must fail on any violation.

ready.json (written atomically once every node listens):
  {"nodes": [{"name", "ip": "127.0.0.1", "port", "role"}], "talosconfig":
   path (admin, O=os:admin), "talosconfig_reader": path (O=os:reader),
   "machine_ca": path (PEM cert), "control": "http://127.0.0.1:P", "pid"}
  plus, with --kube-client-ca-dir, "kube_client_ca_dir": DIR, and with
  --kube-ca-out, "kube_ca_cert" and "kube_ca_key": paths.
  /state shows each control plane's "kube_client_cas" (SHA-256 fingerprints
  of the bundle, issuing CA first).

The double stops on SIGTERM/SIGINT, on POST /shutdown, or by itself after
--deadline seconds (default 1800).  It binds 127.0.0.1 only.
"""

import argparse
import base64
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.parse
from concurrent import futures

import grpc
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TALOS_TAG = "v1.14.0"
CLUSTER_NAME = "hsmca-double"
CONTEXT_NAME = "hsmca-double"
MC_NAMESPACE = "config"
MC_TYPE = "MachineConfigs.config.talos.dev"
MC_ID = "v1alpha1"

MODE_REBOOT, MODE_AUTO, MODE_NO_REBOOT, MODE_STAGED, MODE_TRY = 0, 1, 2, 3, 4
MODE_NAMES = {0: "REBOOT", 1: "AUTO", 2: "NO_REBOOT", 3: "STAGED", 4: "TRY"}

PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def log(msg):
    sys.stderr.write("talos_double: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------- protobuf

def pb_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def pb_uint(field, n):
    return pb_varint(field << 3) + pb_varint(n)


def pb_parse(buf):
    """[(field, wiretype, value)]; raises ValueError on malformed input."""
    out, i = [], 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise ValueError("field number 0")
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            ln, i = _read_varint(buf, i)
            if i + ln > len(buf):
                raise ValueError("truncated length-delimited field")
            val, i = bytes(buf[i:i + ln]), i + ln
        elif wt == 1:
            val, i = bytes(buf[i:i + 8]), i + 8
        elif wt == 5:
            val, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        if i > len(buf):
            raise ValueError("truncated field")
        out.append((field, wt, val))
    return out


def _read_varint(buf, i):
    shift, n = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def pb_fields(buf):
    d = {}
    for f, _wt, v in pb_parse(buf):
        d.setdefault(f, []).append(v)
    return d


def pb_metadata(hostname):
    return pb_bytes(1, hostname)


# ---------------------------------------------------------------- PKI

def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def pem_key(key):
    """Key PEM the way Talos writes it."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        return pem.replace(b"PRIVATE KEY-----", b"ED25519 PRIVATE KEY-----")
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def load_key(pem):
    pem = pem.replace(b"ED25519 PRIVATE KEY-----", b"PRIVATE KEY-----")
    return serialization.load_pem_private_key(pem, password=None)


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert_pem_or_der):
    if cert_pem_or_der.startswith(b"-----"):
        der = x509.load_pem_x509_certificate(cert_pem_or_der).public_bytes(
            serialization.Encoding.DER)
    else:
        der = cert_pem_or_der
    return hashlib.sha256(der).hexdigest()


def _sign_alg(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def make_ca(key, org, cn=None, years=10):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    name = x509.Name(attrs)
    now = _now()
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=365 * years))
         .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                      content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                        critical=False))
    return b.sign(key, _sign_alg(key))


def issue(ca_cert, ca_key, key, orgs=(), cn=None, server=False, ips=(), dns=(), days=365):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    now = _now()
    eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    b = (x509.CertificateBuilder().subject_name(x509.Name(attrs))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                      content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
         # As Go's x509.CreateCertificate does.  OpenSSL needs it to pick
         # the right issuer when two CAs share a subject (O=talos, during a
         # machine CA swap); Go tries every candidate anyway.
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                        critical=False))
    sans = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(ca_key, _sign_alg(ca_key))


class ClusterPKI:
    def __init__(self):
        self.machine_key = ed25519.Ed25519PrivateKey.generate()
        self.machine_ca = make_ca(self.machine_key, "talos")
        self.k8s_key = ec.generate_private_key(ec.SECP256R1())
        self.k8s_ca = make_ca(self.k8s_key, "kubernetes")
        self.agg_key = ec.generate_private_key(ec.SECP256R1())
        self.agg_ca = make_ca(self.agg_key, "kubernetes", cn="front-proxy")
        self.etcd_key = ec.generate_private_key(ec.SECP256R1())
        self.etcd_ca = make_ca(self.etcd_key, "etcd")
        self.sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cluster_id = base64.b64encode(secrets.token_bytes(32)).decode()
        self.cluster_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        self.secretbox = base64.b64encode(secrets.token_bytes(32)).decode()
        self.machine_token = "%s.%s" % (secrets.token_hex(3), secrets.token_hex(8))
        self.k8s_token = "%s.%s" % (secrets.token_hex(3), secrets.token_hex(8))


def b64(data):
    return base64.b64encode(data).decode()


def indent_pem(pem, spaces):
    pad = " " * spaces
    return "".join(pad + line + "\n" for line in pem.decode().strip("\n").split("\n"))


def hostile_payload(kind):
    """Issue 11: what a hostile node could answer to Get(MachineConfig), for
    tests that the client refuses it quickly.  Not Talos behaviour."""
    if kind == "alias_bomb":
        lines = ["version: v1alpha1", "machine:", "  type: worker",
                 "  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in range(1, 9):
            lines.append("  a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)))
        lines.append("  certSANs: [*a8]")
        return ("\n".join(lines) + "\n").encode()
    if kind == "deep_flow":
        n = 100000
        return b"version: v1alpha1\nmachine: " + b"[" * n + b"]" * n + b"\n"
    raise ValueError("unknown hostile_config %r" % kind)


def render_config(pki, name, role, kube_doc):
    cp = role == "controlplane"
    mkey = b64(pem_key(pki.machine_key)) if cp else ""
    lines = []
    a = lines.append
    a("version: v1alpha1 # Indicates the schema used to decode the contents.")
    a("debug: false # Enable verbose logging to the console.")
    a("persist: true")
    a("# Provides machine specific configuration options.")
    a("machine:")
    a("    type: %s # Defines the role of the machine within the cluster." % role)
    a("    token: %s # The `token` is used by a machine to join the PKI of the cluster." % pki.machine_token)
    a("    # The root certificate authority of the PKI.")
    a("    ca:")
    a("        crt: %s" % b64(pem_cert(pki.machine_ca)))
    a("        key: %s" % (mkey if mkey else '""'))
    a("    # Extra certificate subject alternative names for the machine's certificate.")
    a("    certSANs: []")
    a("    # Used to provide additional options to the kubelet.")
    a("    kubelet:")
    a("        image: ghcr.io/siderolabs/kubelet:v1.31.0 # The `image` field is an optional reference to an alternative kubelet image.")
    a("        defaultRuntimeSeccompProfileEnabled: true")
    a("        disableManifestsDirectory: true")
    a("    # Provides machine specific network configuration options.")
    a("    network:")
    a("        hostname: %s" % name)
    a("    # Used to provide instructions for installations.")
    a("    install:")
    a("        disk: /dev/sda # The disk used for installations.")
    a("        image: ghcr.io/siderolabs/installer:%s" % TALOS_TAG)
    a("        wipe: false # Indicates if the installation disk should be wiped at installation time.")
    a("    features:")
    a("        rbac: true # Enable role-based access control (RBAC).")
    a("        stableHostname: true")
    a("# Provides cluster specific configuration options.")
    a("cluster:")
    a("    id: %s # Globally unique identifier for this cluster (base64 encoded random 32 bytes)." % pki.cluster_id)
    a("    secret: %s # Shared secret of cluster (base64 encoded random 32 bytes)." % pki.cluster_secret)
    a("    # Provides control plane specific configuration options.")
    a("    controlPlane:")
    a("        endpoint: https://127.0.0.1:6443 # Endpoint is the canonical controlplane endpoint.")
    a("    clusterName: %s # Configures the cluster's name." % CLUSTER_NAME)
    a("    network:")
    a("        dnsDomain: cluster.local")
    a("        podSubnets:")
    a("            - 10.244.0.0/16")
    a("        serviceSubnets:")
    a("            - 10.96.0.0/12")
    a("    token: %s # The [bootstrap token](https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/) used to join the cluster." % pki.k8s_token)
    if cp:
        a("    secretboxEncryptionSecret: %s" % pki.secretbox)
    a("    # The base64 encoded root certificate authority used by Kubernetes.")
    a("    ca:")
    a("        crt: %s" % b64(pem_cert(pki.k8s_ca)))
    a("        key: %s" % (b64(pem_key(pki.k8s_key)) if cp else '""'))
    if cp:
        a("    # The base64 encoded aggregator certificate authority used by Kubernetes for front-proxy certificate generation.")
        a("    aggregatorCA:")
        a("        crt: %s" % b64(pem_cert(pki.agg_ca)))
        a("        key: %s" % b64(pem_key(pki.agg_key)))
        a("    # The base64 encoded private key for service account token generation.")
        a("    serviceAccount:")
        a("        key: %s" % b64(pem_key(pki.sa_key)))
        a("    # Etcd specific configuration options.")
        a("    etcd:")
        a("        # The `ca` is the root certificate authority of the PKI.")
        a("        ca:")
        a("            crt: %s" % b64(pem_cert(pki.etcd_ca)))
        a("            key: %s" % b64(pem_key(pki.etcd_key)))
    a("    discovery:")
    a("        enabled: true # Enable the cluster membership discovery feature.")
    text = "\n".join(lines) + "\n"
    if kube_doc:
        d = ["---", "apiVersion: v1alpha1", "kind: KubeAPIServerCAConfig",
             "# The currently active issuing certificate authority for the Kubernetes API server.",
             "issuingCA:", "    cert: |"]
        text += "\n".join(d) + "\n" + indent_pem(pem_cert(pki.k8s_ca), 8)
        if cp:
            text += "    key: |\n" + indent_pem(pem_key(pki.k8s_key), 8)
        text += ("# The list of accepted CA certificates for the Kubernetes API server.\n"
                 "acceptedCAs: []\n")
    return text.encode()


# ---------------------------------------------------------------- config inspection

class ConfigError(Exception):
    pass


def parse_docs(data):
    try:
        docs = [d for d in yaml.safe_load_all(data) if d is not None]
    except yaml.YAMLError as e:
        raise ConfigError("failed to parse config: %s" % str(e).replace("\n", " "))
    if not docs:
        raise ConfigError("config is empty")
    v1 = None
    for d in docs:
        if not isinstance(d, dict):
            raise ConfigError("config document is not a mapping")
        if d.get("version") == "v1alpha1" or "machine" in d:
            if v1 is not None:
                raise ConfigError("duplicate v1alpha1 document")
            v1 = d
        elif "kind" not in d or "apiVersion" not in d:
            raise ConfigError("document without apiVersion/kind")
    if v1 is None:
        raise ConfigError("missing v1alpha1 document")
    return docs, v1


def kube_doc(docs):
    for d in docs:
        if d.get("kind") == "KubeAPIServerCAConfig":
            return d
    return None


def _b64pem(value, what):
    if not isinstance(value, str) or not value:
        raise ConfigError("%s: empty" % what)
    try:
        raw = base64.b64decode(value, validate=False)
    except Exception:
        raise ConfigError("%s: invalid base64" % what)
    return raw


def _cert_der(pem, what):
    try:
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    except Exception:
        raise ConfigError("%s: not a PEM certificate" % what)


def machine_section(v1):
    m = v1.get("machine")
    if not isinstance(m, dict):
        raise ConfigError("machine section is missing")
    return m


def accepted_list(section, what):
    lst = section.get("acceptedCAs") or []
    if not isinstance(lst, list):
        raise ConfigError("%s.acceptedCAs: not a list" % what)
    out = []
    for i, item in enumerate(lst):
        w = "%s.acceptedCAs[%d]" % (what, i)
        if not isinstance(item, dict):
            raise ConfigError("%s: expected {crt: ...}" % w)
        out.append(_b64pem(item.get("crt"), w + ".crt"))
    return out


def kube_accepted_list(kd):
    lst = kd.get("acceptedCAs") or []
    if not isinstance(lst, list):
        raise ConfigError("KubeAPIServerCAConfig.acceptedCAs: not a list")
    out = []
    for i, item in enumerate(lst):
        if not isinstance(item, str):
            raise ConfigError("KubeAPIServerCAConfig.acceptedCAs[%d]: not a PEM string" % i)
        out.append(item.encode())
    return out


def config_summary(data):
    """Public facts about a config (no keys)."""
    docs, v1 = parse_docs(data)
    m = machine_section(v1)
    ca = m.get("ca") or {}
    c = v1.get("cluster") or {}
    kd = kube_doc(docs)
    out = {
        "type": m.get("type"),
        "machine_ca": fingerprint(_b64pem(ca.get("crt"), "machine.ca.crt")),
        "has_machine_ca_key": bool(ca.get("key")),
        "machine_accepted": [fingerprint(p) for p in accepted_list(m, "machine")],
        "cluster_accepted": [fingerprint(p) for p in accepted_list(c, "cluster")],
        "kube_accepted": None,
    }
    if kd is not None:
        out["kube_accepted"] = [fingerprint(p) for p in kube_accepted_list(kd)]
    return out


def client_ca_bundle(data):
    docs, v1 = parse_docs(data)
    m = machine_section(v1)
    ca = m.get("ca") or {}
    pems = [_b64pem(ca.get("crt"), "machine.ca.crt")] + accepted_list(m, "machine")
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in pems)


def kube_client_ca_pems(data):
    """[PEM] of kube-apiserver's client-CA bundle for this config, issuing CA
    first.  A KubeAPIServerCAConfig document, where present, is what counts."""
    docs, v1 = parse_docs(data)
    kd = kube_doc(docs)
    if kd is not None:
        ica = kd.get("issuingCA")
        cert = ica.get("cert") if isinstance(ica, dict) else None
        if not isinstance(cert, str) or not cert.strip():
            raise ConfigError("KubeAPIServerCAConfig.issuingCA.cert: empty")
        pems = [cert.encode()] + kube_accepted_list(kd)
    else:
        c = v1.get("cluster")
        if not isinstance(c, dict):
            raise ConfigError("cluster section is missing")
        ca = c.get("ca") or {}
        pems = [_b64pem(ca.get("crt"), "cluster.ca.crt")] + accepted_list(c, "cluster")
    return [p.strip() + b"\n" for p in pems]


def version_tuple(tag):
    m = re.match(r"^v(\d+)\.(\d+)\.(\d+)", tag)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def validate_config(old, new, role, tag=None):
    """Raise ConfigError with a Talos-like message if `new` may not replace `old`."""
    _odocs, ov1 = parse_docs(old)
    docs, v1 = parse_docs(new)
    if tag is not None and version_tuple(tag) < (1, 7, 0):
        # machine.acceptedCAs / cluster.acceptedCAs arrived in v1.7.0: the
        # strict decoder of older versions refuses the unknown key.
        for sec in ("machine", "cluster"):
            if isinstance(v1.get(sec), dict) and "acceptedCAs" in v1[sec]:
                raise ConfigError('unknown keys found during decoding:\n%s:\n    acceptedCAs: []\n'
                                  % sec)
    if v1.get("version") != "v1alpha1":
        raise ConfigError("unknown config version %r" % v1.get("version"))
    m = machine_section(v1)
    otype = machine_section(ov1).get("type")
    if m.get("type") != otype:
        raise ConfigError("machine type can't be changed from %r to %r" % (otype, m.get("type")))
    ca = m.get("ca")
    if not isinstance(ca, dict):
        raise ConfigError("machine.ca is required")
    _cert_der(_b64pem(ca.get("crt"), "machine.ca.crt"), "machine.ca.crt")
    if role == "controlplane" and not ca.get("key"):
        raise ConfigError("issuing CA key is required for controlplane nodes (machine.ca.key)")
    if role != "controlplane" and ca.get("key"):
        raise ConfigError("machine.ca.key must not be set on worker nodes")
    for i, p in enumerate(accepted_list(m, "machine")):
        _cert_der(p, "machine.acceptedCAs[%d]" % i)
    c = v1.get("cluster") or {}
    if not isinstance(c, dict):
        raise ConfigError("cluster section is not a mapping")
    for i, p in enumerate(accepted_list(c, "cluster")):
        _cert_der(p, "cluster.acceptedCAs[%d]" % i)
    kd = kube_doc(docs)
    if kd is not None:
        for i, p in enumerate(kube_accepted_list(kd)):
            _cert_der(p, "KubeAPIServerCAConfig.acceptedCAs[%d]" % i)
        ica = kd.get("issuingCA") or {}
        if role != "controlplane" and isinstance(ica, dict) and ica.get("key"):
            raise ConfigError("KubeAPIServerCAConfig.issuingCA.key must not be set on worker nodes")


def private_keys_in(data):
    """{(label, sha256 of DER)} of every private key in the config text, found
    as PEM blocks in the raw text or inside base64-encoded strings."""
    found = set()

    def scan(blob):
        for mt in PEM_RE.finditer(blob):
            label = mt.group(1).decode()
            if "PRIVATE KEY" not in label:
                continue
            try:
                der = base64.b64decode(b"".join(mt.group(2).split()))
            except Exception:
                der = mt.group(2)
            found.add((label, hashlib.sha256(der).hexdigest()))

    scan(data)
    # Base64 scalars (Talos stores keys as base64 of PEM): try every long token.
    for tok in re.findall(rb"[A-Za-z0-9+/=]{40,}", data):
        try:
            raw = base64.b64decode(tok + b"=" * (-len(tok) % 4))
        except Exception:
            continue
        if b"PRIVATE KEY-----" in raw:
            scan(raw)
    return found


# ---------------------------------------------------------------- nodes

class _LiteralDumper(yaml.SafeDumper):
    pass


_LiteralDumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def yaml_string(data):
    """The config bytes as a YAML string document (a "|" block), as Go's
    yaml.Marshal writes a multi-line string."""
    return yaml.dump(data.decode(), Dumper=_LiteralDumper, width=1 << 20).encode()


class RpcError(Exception):
    def __init__(self, code, details):
        super().__init__(details)
        self.code = code
        self.details = details


def client_roles(context):
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    if not pems:
        return []
    try:
        cert = x509.load_pem_x509_certificate(pems[0])
    except Exception:
        return []
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def has_port(node):
    if node.startswith("["):
        return "]:" in node
    return node.count(":") == 1 and node.rsplit(":", 1)[1].isdigit()


class Node:
    def __init__(self, cluster, name, role, config, ip="127.0.0.1", direct=True, tag=TALOS_TAG):
        self.cluster = cluster
        self.name = name
        self.role = role
        self.ip = ip          # its address: bound when direct, matched in `node` metadata
        self.direct = direct  # False: no listener; reachable only through an endpoint
        self.tag = tag        # Version tag; below v1.7.0 acceptedCAs are refused
        self.stubborn = False  # keeps trusting every machine CA it ever trusted
        self.ever_trusted = []
        self.config = config
        self.version = 1
        self.lock = threading.RLock()
        self.port = 0
        self.server = None
        self.up = False
        self.delay_ms = 0
        self.delay_cancel = threading.Event()  # set: delayed calls go on at once
        self.unavailable = 0
        self.apply_unavailable = 0
        self.apply_internal = False
        self.hostile_config = ""  # issue 11: see hostile_payload()
        self.yaml_spec_only = False
        self.try_timer = None
        self.server_cert_pem = None
        self.server_key_pem = None
        self.server_ca_fp = None
        self.served = None

    # -- TLS
    def _issuer_for(self, ca_crt_pem):
        """(cert, key) of the machine CA whose certificate is ca_crt_pem,
        from this node's config or a control-plane node's (trustd's role)."""
        fp = fingerprint(ca_crt_pem)
        for n in [self] + [x for x in self.cluster.nodes if x is not self]:
            with n.lock:
                try:
                    _d, v1 = parse_docs(n.config)
                    ca = machine_section(v1).get("ca") or {}
                    crt = _b64pem(ca.get("crt"), "crt")
                    if fingerprint(crt) == fp and ca.get("key"):
                        return (x509.load_pem_x509_certificate(crt),
                                load_key(_b64pem(ca.get("key"), "key")))
                except Exception:
                    continue
        return None

    def _tls_material(self):
        with self.lock:
            data = self.config
        roots = client_ca_bundle(data)
        for pem in re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", roots,
                              re.S):
            if pem not in self.ever_trusted:
                self.ever_trusted.append(pem)
        if self.stubborn:
            roots = b"".join(p if p.endswith(b"\n") else p + b"\n" for p in self.ever_trusted)
        _d, v1 = parse_docs(data)
        ca_crt = _b64pem((machine_section(v1).get("ca") or {}).get("crt"), "crt")
        fp = fingerprint(ca_crt)
        if fp != self.server_ca_fp:
            issuer = self._issuer_for(ca_crt)
            if issuer is not None:
                key = ec.generate_private_key(ec.SECP256R1())
                cert = issue(issuer[0], issuer[1], key, orgs=(), cn=self.name, server=True,
                             ips=(self.ip,), dns=(self.name,))
                self.server_cert_pem = pem_cert(cert)
                self.server_key_pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption())
                self.server_ca_fp = fp
            elif self.server_cert_pem is None:
                raise RuntimeError("no key for machine CA of %s" % self.name)
        return roots, self.server_cert_pem, self.server_key_pem

    def _cert_config(self):
        roots, crt, key = self._tls_material()
        return (roots, crt), grpc.ssl_server_certificate_configuration([(key, crt)], roots)

    def fetch_cert_config(self):
        # Called by gRPC at every new handshake: new configuration only on change.
        try:
            state, conf = self._cert_config()
            if state == self.served:
                return None
            self.served = state
            return conf
        except Exception:
            log("certificate fetcher for %s failed: %s" % (self.name, traceback.format_exc()))
            return None

    def start(self):
        state, conf = self._cert_config()
        self.served = state
        if not self.direct:
            self.up = True  # serves proxied calls; nothing listens at its address
            return
        creds = grpc.dynamic_ssl_server_credentials(conf, self.fetch_cert_config,
                                                    require_client_authentication=True)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                             handlers=[Handler(self)],
                             options=[("grpc.so_reuseport", 1)])
        port = server.add_secure_port("%s:%d" % (self.ip, self.port), creds)
        if port == 0:
            raise RuntimeError("cannot bind %s:%d for %s" % (self.ip, self.port, self.name))
        self.port = port
        server.start()
        self.server = server
        self.up = True

    def stop(self):
        if self.server is not None:
            self.server.stop(0).wait(10)
            self.server = None
        self.up = False

    # -- the kube-apiserver client-CA bundle of a control plane
    def write_kube_bundle(self):
        """Rewrite DIR/<name>.pem from the current config (control planes only).
        Callers hold self.lock, so two writes of one node never interleave."""
        kdir = self.cluster.kube_ca_dir
        if kdir is None or self.role != "controlplane":
            return
        try:
            data = b"".join(kube_client_ca_pems(self.config))
        except ConfigError as e:
            log("%s: kube client-CA bundle not written: %s" % (self.name, e))
            return
        path = os.path.join(kdir, "%s.pem" % self.name)
        tmp = os.path.join(kdir, ".%s.pem.tmp" % self.name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    # -- faults
    def faults(self):
        return {"stubborn": self.stubborn, "delay_ms": self.delay_ms, "unavailable": self.unavailable,
                "apply_unavailable": self.apply_unavailable,
                "apply_internal": self.apply_internal, "yaml_spec_only": self.yaml_spec_only}

    def summary(self):
        with self.lock:
            data, version = self.config, self.version
        try:
            s = config_summary(data)
        except ConfigError as e:
            s = {"error": str(e)}
        if self.role == "controlplane":
            try:
                s["kube_client_cas"] = [fingerprint(p) for p in kube_client_ca_pems(data)]
            except (ConfigError, ValueError) as e:
                s["kube_client_cas"] = {"error": str(e)}
        s.update({"name": self.name, "role": self.role, "port": self.port, "up": self.up,
                  "ip": self.ip, "direct": self.direct, "tag": self.tag,
                  "config_version": version, "faults": self.faults(),
                  "config_sha256": hashlib.sha256(data).hexdigest()})
        return s

    # -- methods (on the target node)
    def check_faults(self, method):
        with self.lock:
            if not self.up:
                raise RpcError(grpc.StatusCode.UNAVAILABLE,
                               "connection error: desc = \"transport: Error while dialing: dial tcp "
                               "127.0.0.1:%d: connect: connection refused\"" % self.port)
            if self.unavailable > 0:
                self.unavailable -= 1
                raise RpcError(grpc.StatusCode.UNAVAILABLE, "injected fault: node unavailable")
            if method == "ApplyConfiguration":
                if self.apply_unavailable > 0:
                    self.apply_unavailable -= 1
                    raise RpcError(grpc.StatusCode.UNAVAILABLE,
                                   "injected fault: apply temporarily unavailable")
                if self.apply_internal:
                    raise RpcError(grpc.StatusCode.INTERNAL,
                                   "injected fault: failed to apply configuration")
        self.delay(self.delay_ms)

    def delay(self, ms):
        """Sleep ms, or less if the delay is changed or cleared meanwhile (so
        a test's long delay does not hold a worker, or the shutdown)."""
        if ms > 0:
            self.delay_cancel.wait(ms / 1000.0)

    def set_delay(self, ms):
        self.delay_ms = ms
        self.delay_cancel.set()
        self.delay_cancel = threading.Event()

    def rpc_version(self, req, hostname=None):
        info = (pb_bytes(1, self.tag) + pb_bytes(2, "0123456789abcdef")
                + pb_bytes(3, "2026-01-01T00:00:00Z") + pb_bytes(4, "go1.24")
                + pb_bytes(5, "linux") + pb_bytes(6, "amd64"))
        # machined fills no metadata; apid's backend adds Metadata{hostname:
        # <the node value>} to what it proxies (internal/app/apid/pkg/
        # backend/apid.go AppendInfo).
        msg = (pb_bytes(1, pb_metadata(hostname)) if hostname else b"") + pb_bytes(2, info)
        return pb_bytes(1, msg)

    def rpc_get(self, req):
        try:
            f = pb_fields(req)
        except ValueError as e:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "malformed request: %s" % e)
        ns = f.get(1, [b""])[-1].decode(errors="replace")
        typ = f.get(2, [b""])[-1].decode(errors="replace")
        rid = f.get(3, [b""])[-1].decode(errors="replace")
        if ns != MC_NAMESPACE or typ != MC_TYPE or rid != MC_ID:
            raise RpcError(grpc.StatusCode.NOT_FOUND,
                           "resource %s(%s/%s@undefined) doesn't exist" % (typ, ns, rid))
        with self.lock:
            data, version = self.config, self.version
            if self.hostile_config:
                data = hostile_payload(self.hostile_config)
        meta = (pb_bytes(1, ns) + pb_bytes(2, typ) + pb_bytes(3, rid)
                + pb_bytes(4, str(version)) + pb_bytes(6, "running"))
        # proto_spec: MachineConfigSpec{yaml_marshalled}; yaml_spec: the YAML
        # encoding of the spec, which for a MachineConfig is the config as a
        # string (cosi-project/runtime pkg/resource/protobuf/resource.go,
        # siderolabs/talos pkg/machinery/resources/config/machine_config.go).
        spec = pb_bytes(2, yaml_string(data))
        if not self.yaml_spec_only:
            spec = pb_bytes(1, pb_bytes(1, data)) + spec
        return pb_bytes(1, pb_bytes(1, meta) + pb_bytes(2, spec))

    def rpc_apply(self, req, via, via_name=None):
        try:
            f = pb_fields(req)
        except ValueError as e:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "malformed request: %s" % e)
        data = f.get(1, [b""])[-1]
        mode = f.get(4, [0])[-1]
        dry = bool(f.get(5, [0])[-1])
        try_timeout = 60.0
        if 6 in f:
            d = pb_fields(f[6][-1])
            try_timeout = d.get(1, [0])[-1] + d.get(2, [0])[-1] / 1e9
        with self.lock:
            old = self.config
        self.cluster.oracle(self, via, old, data)
        if mode == MODE_REBOOT:
            # Outside maintenance mode (v1alpha1_server.go ApplyConfiguration).
            raise RpcError(grpc.StatusCode.UNIMPLEMENTED,
                           "the REBOOT mode is not supported, please use AUTO or NO_REBOOT modes "
                           "instead")
        if mode not in (MODE_AUTO, MODE_NO_REBOOT, MODE_TRY):
            raise RpcError(grpc.StatusCode.UNIMPLEMENTED,
                           "apply mode %s is not implemented by the test double"
                           % MODE_NAMES.get(mode, str(mode)))
        try:
            validate_config(old, data, self.role, self.tag)
        except ConfigError as e:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT,
                           "configuration validation failed: 1 error occurred:\n\t* %s\n\n" % e)
        details = "Applied configuration without a reboot"
        if dry:
            details = "Dry run summary:\nApplied configuration without a reboot (dry run)"
        else:
            with self.lock:
                if self.try_timer is not None:
                    self.try_timer.cancel()
                    self.try_timer = None
                self.config = data
                self.version += 1
                if data != old:
                    self.write_kube_bundle()
                if mode == MODE_TRY:
                    v = self.version
                    self.try_timer = threading.Timer(try_timeout, self._revert, (old, v))
                    self.try_timer.daemon = True
                    self.try_timer.start()
                    details = ("Applied configuration in a try mode, it will be rolled back in %s"
                               % datetime.timedelta(seconds=try_timeout))
        rmode = MODE_NO_REBOOT if mode in (MODE_AUTO, MODE_NO_REBOOT) else mode
        msg = (pb_bytes(1, pb_metadata(via_name)) if via_name else b"") + pb_uint(3, rmode) \
            + pb_bytes(4, details)
        return pb_bytes(1, msg)

    def _revert(self, old, version):
        with self.lock:
            if self.version == version:
                self.config = old
                self.version += 1
                self.try_timer = None
                self.write_kube_bundle()
                log("%s: try-mode config rolled back" % self.name)


ANY_ROLE = "os:"
ADMIN = "os:admin"
METHODS = {
    "/machine.MachineService/Version": ("Version", ANY_ROLE),
    "/machine.MachineService/ApplyConfiguration": ("ApplyConfiguration", ADMIN),
    "/cosi.resource.State/Get": ("Get", ADMIN),
}


class Handler(grpc.GenericRpcHandler):
    def __init__(self, node):
        self.node = node

    def service(self, details):
        if details.method not in METHODS:
            return None
        method = details.method
        return grpc.unary_unary_rpc_method_handler(
            lambda req, ctx: self.node.cluster.dispatch(self.node, method, req, ctx))


class Cluster:
    def __init__(self, specs, kube_docs):
        self.pki = ClusterPKI()
        self.nodes = []
        self.by_name = {}
        for spec in specs:
            name, role = spec[0], spec[1]
            extra = spec[2] if len(spec) > 2 else {}
            cfg = render_config(self.pki, name, role, name in kube_docs)
            n = Node(self, name, role, cfg, ip=extra.get("ip", "127.0.0.1"),
                     direct=extra.get("direct", True), tag=extra.get("version", TALOS_TAG))
            self.nodes.append(n)
            self.by_name[name] = n
        self.lock = threading.Lock()
        self.violations = []
        self.allowed_keys = set()
        self.kube_ca_dir = None
        self.requests = []
        self.stop_event = threading.Event()

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            if len(self.requests) > 20000:
                del self.requests[:1000]

    def oracle(self, target, via, old, new):
        allowed = private_keys_in(old)
        for label, fp in sorted(private_keys_in(new) - allowed):
            if fp in self.allowed_keys:
                continue
            v = {"time": time.time(), "node": target.name, "via": via.name,
                 "method": "ApplyConfiguration", "label": label, "der_sha256": fp,
                 "what": "ApplyConfiguration carried a private key that is not one of the "
                         "node's own config keys"}
            with self.lock:
                self.violations.append(v)
            log("SECURITY VIOLATION: %s key %s... sent to %s" % (label, fp[:16], target.name))

    def dispatch(self, recv, method, req, context):
        name, need = METHODS[method]
        md = dict(context.invocation_metadata())
        node = md.get("node")
        proxied_as = None
        roles = client_roles(context)
        entry = {"time": time.time(), "via": recv.name, "node": node or recv.name,
                 "method": method, "roles": roles, "code": "OK"}
        try:
            if not any(r.startswith(need) if need == ANY_ROLE else r == need for r in roles):
                raise RpcError(grpc.StatusCode.PERMISSION_DENIED, "not authorized")
            target = recv
            # apid's director (internal/app/apid/pkg/director/director.go): a
            # call carrying "proxyfrom" is local; a `node` value is proxied to
            # that target through the remote backend on a control plane (also
            # when it names the node itself); a worker has no backend factory:
            # its own address is local, anything else "no request forwarding".
            if node is not None and "proxyfrom" not in md:
                named = self.lookup(node)
                if recv.role != "controlplane":
                    if named is not recv:
                        raise RpcError(grpc.StatusCode.PERMISSION_DENIED, "no request forwarding")
                elif has_port(node) or node == "":
                    # backend/apid.go NewAPID refuses a target with a port;
                    # the director answers Internal with that error.
                    raise RpcError(grpc.StatusCode.INTERNAL, 'invalid target "%s"' % node)
                else:
                    target = named
                    proxied_as = node
                    if target is None:
                        raise RpcError(grpc.StatusCode.UNAVAILABLE,
                                       "connection error: desc = \"transport: Error while dialing: "
                                       "dial tcp %s:50000: connect: no route to host\"" % node)
            if target is not recv:
                recv.delay(recv.delay_ms)  # a slow proxy
            target.check_faults(name)  # the target's faults and delay
            if name == "Version":
                return target.rpc_version(req, proxied_as)
            if name == "Get":
                return target.rpc_get(req)
            return target.rpc_apply(req, recv, proxied_as)
        except RpcError as e:
            entry["code"] = e.code.name
            entry["details"] = e.details[:300]
            context.abort(e.code, e.details)
        finally:
            self.record(entry)

    def lookup(self, node):
        """The node a `node` value names: its name (a host name), or its
        address when no other node shares it."""
        if node in self.by_name:
            return self.by_name[node]
        byip = [n for n in self.nodes if n.ip == node]
        return byip[0] if len(byip) == 1 else None

    def state(self):
        with self.lock:
            nviol = len(self.violations)
        return {"nodes": [n.summary() for n in self.nodes], "violations": nviol}


# ---------------------------------------------------------------- control

def truthy(v):
    return str(v).lower() in ("1", "true", "yes", "on")


class Control(http.server.BaseHTTPRequestHandler):
    cluster = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, obj):
        body = json.dumps(obj, indent=1).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _params(self):
        u = urllib.parse.urlparse(self.path)
        p = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            raw = self.rfile.read(min(n, 65536))
            try:
                body = json.loads(raw)
                if isinstance(body, dict):
                    p.update(body)
            except ValueError:
                p.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
        return u.path, p

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        c = self.cluster
        path, p = self._params()
        try:
            if path == "/state":
                return self._send(200, c.state())
            if path == "/violations":
                with c.lock:
                    return self._send(200, list(c.violations))
            if path == "/requests":
                with c.lock:
                    return self._send(200, list(c.requests))
            if path == "/allow_key":
                fp = str(p.get("der_sha256", "")).lower()
                if not re.match(r"^[0-9a-f]{64}$", fp):
                    return self._send(400, {"error": "der_sha256 must be 64 hex digits"})
                with c.lock:
                    c.allowed_keys.add(fp)
                return self._send(200, {"ok": True})
            if path == "/shutdown":
                c.stop_event.set()
                return self._send(200, {"ok": True})
            if path == "/fault":
                n = c.by_name.get(p.get("node", ""))
                if n is None:
                    return self._send(404, {"error": "unknown node %r" % p.get("node")})
                if truthy(p.get("clear", "0")):
                    n.set_delay(0)
                    n.unavailable = 0
                    n.apply_unavailable = 0
                    n.apply_internal = False
                    n.hostile_config = ""
                    n.yaml_spec_only = False
                    if not n.up:
                        n.start()
                if "delay_ms" in p:
                    n.set_delay(int(p["delay_ms"]))
                if "unavailable" in p:
                    n.unavailable = int(p["unavailable"])
                if "apply_unavailable" in p:
                    n.apply_unavailable = int(p["apply_unavailable"])
                if "apply_internal" in p:
                    n.apply_internal = truthy(p["apply_internal"])
                if "hostile_config" in p:
                    if p["hostile_config"]:
                        hostile_payload(p["hostile_config"])  # unknown kind: 500
                    n.hostile_config = p["hostile_config"]
                if "version" in p:
                    if not re.match(r"^v\d+\.\d+\.\d+$", str(p["version"])):
                        return self._send(400, {"error": "version must be vX.Y.Z"})
                    n.tag = str(p["version"])
                if "stubborn" in p:
                    n.stubborn = truthy(p["stubborn"])
                    n.served = None  # the next handshake takes the new CA set
                if "yaml_spec_only" in p:
                    n.yaml_spec_only = truthy(p["yaml_spec_only"])
                if "down" in p:
                    if truthy(p["down"]) and n.up:
                        n.stop()
                    elif not truthy(p["down"]) and not n.up:
                        n.start()
                return self._send(200, n.summary())
            return self._send(404, {"error": "unknown path"})
        except Exception as e:
            return self._send(500, {"error": str(e)})


# ---------------------------------------------------------------- main

def write_atomic(path, data, mode=0o644):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def write_kube_ca(cluster, out_dir):
    """DIR/kube-ca.crt and DIR/kube-ca.key (0600): the cluster's Kubernetes CA,
    which the oracle then never reports (it is the double's own test key)."""
    pki = cluster.pki
    os.makedirs(out_dir, exist_ok=True)
    crt = os.path.join(out_dir, "kube-ca.crt")
    key = os.path.join(out_dir, "kube-ca.key")
    for path in (crt, key):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    write_atomic(crt, pem_cert(pki.k8s_ca))
    write_atomic(key, pem_key(pki.k8s_key), 0o600)
    # The oracle fingerprints the DER inside a PEM block: the form the configs
    # carry (EC PRIVATE KEY) and, should a client re-encode it, PKCS#8.
    for fmt in (serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.PrivateFormat.PKCS8):
        der = pki.k8s_key.private_bytes(serialization.Encoding.DER, fmt,
                                        serialization.NoEncryption())
        cluster.allowed_keys.add(hashlib.sha256(der).hexdigest())
    return {"kube_ca_cert": crt, "kube_ca_key": key}


def talosconfig_text(pki, orgs, endpoints, nodes):
    key = ed25519.Ed25519PrivateKey.generate()
    cert = issue(pki.machine_ca, pki.machine_key, key, orgs=orgs, cn=None, server=False)
    lines = ["context: %s" % CONTEXT_NAME, "contexts:", "    %s:" % CONTEXT_NAME,
             "        endpoints:"]
    lines += ["            - %s" % e for e in endpoints]
    lines += ["        nodes:"] + ["            - %s" % n for n in nodes]
    lines += ["        ca: %s" % b64(pem_cert(pki.machine_ca)),
              "        crt: %s" % b64(pem_cert(cert)),
              "        key: %s" % b64(pem_key(key))]
    return ("\n".join(lines) + "\n").encode()


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Talos API double for hsmca tests")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--nodes", default="")
    ap.add_argument("--spec")
    ap.add_argument("--kube-ca-doc", default="")
    ap.add_argument("--ready-file")
    ap.add_argument("--pid-file")
    ap.add_argument("--deadline", type=float, default=1800.0)
    ap.add_argument("--kube-client-ca-dir")
    ap.add_argument("--kube-ca-out")
    a = ap.parse_args(argv)
    specs, kube = [], set()
    if a.spec:
        with open(a.spec, "rb") as f:
            sp = yaml.safe_load(f)
        specs = [(n["name"], n["role"], {k: n[k] for k in ("ip", "direct", "version") if k in n})
                 for n in sp.get("nodes", [])]
        kube = set(sp.get("kube_ca_doc", []))
    for item in filter(None, a.nodes.split(",")):
        name, _, role = item.partition(":")
        specs.append((name, role or "controlplane"))
    if a.kube_ca_doc == "all":
        kube = {n for n, _ in specs}
    else:
        kube |= set(filter(None, a.kube_ca_doc.split(",")))
    if not specs:
        ap.error("no nodes (use --nodes or --spec)")
    names = set()
    for spec in specs:
        name, role = spec[0], spec[1]
        if role not in ("controlplane", "worker") or not re.match(r"^[a-z0-9][a-z0-9.-]*$", name) \
                or name in names:
            ap.error("bad node %s:%s" % (name, role))
        names.add(name)
    return a, specs, kube


def main(argv):
    a, specs, kube = parse_args(argv)
    os.makedirs(a.state_dir, exist_ok=True)
    ready = a.ready_file or os.path.join(a.state_dir, "ready.json")
    pidf = a.pid_file or os.path.join(a.state_dir, "talos_double.pid")
    write_atomic(pidf, b"%d\n" % os.getpid())

    cluster = Cluster(specs, kube)
    stop = cluster.stop_event
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    timer = threading.Timer(a.deadline, stop.set)
    timer.daemon = True
    timer.start()

    if a.kube_client_ca_dir:
        os.makedirs(a.kube_client_ca_dir, exist_ok=True)
        cluster.kube_ca_dir = a.kube_client_ca_dir
        for n in cluster.nodes:
            with n.lock:
                n.write_kube_bundle()
    kube_out = {}
    if a.kube_ca_out:
        kube_out = write_kube_ca(cluster, a.kube_ca_out)

    for n in cluster.nodes:
        n.start()

    Control.cluster = cluster
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    pki = cluster.pki
    cps = [n for n in cluster.nodes if n.role == "controlplane" and n.direct] or \
        [n for n in cluster.nodes if n.direct]
    eps = ["%s:%d" % (n.ip, n.port) for n in cps]
    tc = os.path.join(a.state_dir, "talosconfig")
    tcr = os.path.join(a.state_dir, "talosconfig-reader")
    write_atomic(tc, talosconfig_text(pki, ["os:admin"], eps, [cps[0].name]), 0o600)
    write_atomic(tcr, talosconfig_text(pki, ["os:reader"], eps, [cps[0].name]), 0o600)
    mca = os.path.join(a.state_dir, "machine-ca.crt")
    write_atomic(mca, pem_cert(pki.machine_ca))
    info = {"nodes": [{"name": n.name, "ip": n.ip, "port": n.port, "role": n.role,
                       "direct": n.direct, "version": n.tag}
                      for n in cluster.nodes],
            "talosconfig": tc, "talosconfig_reader": tcr, "machine_ca": mca,
            "control": "http://127.0.0.1:%d" % httpd.server_address[1], "pid": os.getpid()}
    if a.kube_client_ca_dir:
        info["kube_client_ca_dir"] = a.kube_client_ca_dir
    info.update(kube_out)
    write_atomic(ready, json.dumps(info, indent=1).encode() + b"\n")
    log("ready: %d nodes, control %s" % (len(cluster.nodes), info["control"]))

    while not stop.wait(0.5):
        pass
    log("stopping")
    httpd.shutdown()
    for n in cluster.nodes:
        n.set_delay(0)
    for n in cluster.nodes:
        try:
            n.stop()
        except Exception:
            pass
    try:
        os.unlink(pidf)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
