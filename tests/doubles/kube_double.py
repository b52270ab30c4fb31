#!/usr/bin/python3
"""kube_double.py -- a protocol-faithful Kubernetes API double for hsmca tests.

Run with /usr/bin/python3 (Debian's, which has python3-cryptography).

    /usr/bin/python3 tests/doubles/kube_double.py --dir DIR [--deadline 300]
        [--client-ca-file PATH] [--issuing-ca-cert PEM --issuing-ca-key PEM]
        [--kamaji-tenant NAME --tenant-namespace NS --kamaji-namespace cozy-kamaji]
        [--rotate-delay 0.5] [--pod-ready-delay 0.5] [--pod-grace 0.2]
        [--vm-restart-delay 0.3] [--worker-vms 2] [--vm-cluster-label X] [--no-konnectivity]
        [--bookmark-interval 1.0] [--key-type ec|rsa]
        [--apiserver NAME=CLIENT_CA_FILE ...] [--anonymous-auth]
        [--drop-untrusted-client-certs]

What it serves (HTTPS, HTTP/1.1, 127.0.0.1 only, free ports):
  * the "management" API server: namespaced secrets, configmaps, pods and the
    tenantcontrolplanes.kamaji.clastix.io/v1alpha1 custom resource; GET, LIST
    (labelSelector with =, ==, !=, in, notin, exists, !exists; fieldSelector
    metadata.name/metadata.namespace), POST, PUT (resourceVersion precondition,
    409 Conflict), PATCH (application/merge-patch+json only, 415 otherwise),
    DELETE (pods terminate gracefully: deletionTimestamp, then DELETED after
    --pod-grace), WATCH (?watch=1, chunked, one JSON event per line, BOOKMARK
    events every --bookmark-interval, ERROR event with a 410 Status for a
    compacted resourceVersion), /version, /readyz, /livez, /healthz,
    POST /apis/authentication.k8s.io/v1/selfsubjectreviews (201, status.userInfo
    {username, groups} of the caller; any authenticated user may, as
    system:basic-user allows; a body, if it names kind/apiVersion, must name
    SelfSubjectReview / authentication.k8s.io/v1), and minimal discovery at
    GET /api and GET /apis.  One global resourceVersion counter.  Error bodies
    are metav1.Status exactly as kube-apiserver writes them.
  * with --apiserver NAME=CLIENT_CA_FILE (repeatable): one more HTTPS listener
    per flag (127.0.0.1, free port), like the kube-apiserver of one
    control-plane node in front of the same etcd: it shares the management
    store, serving certificate, tokens, RBAC-lite, faults, request log (entries
    carry "apiserver": NAME) and oracle of the management server, but its
    client-CA set is EXACTLY the certificates in CLIENT_CA_FILE, re-read on
    every request (a missing file is an empty set; a file without a parsable
    certificate keeps the last good set) -- kube-apiserver's --client-ca-file.
    A Talos double's --kube-client-ca-dir writes such files.
  * with --kamaji-tenant: a Kamaji-like reconciler and a second HTTPS port, the
    tenant's API server (see "Kamaji" below).
  * a control port (plain HTTP, 127.0.0.1, bearer control token from
    ready.json) for test-only switches: /faults, /client-cas, /compact,
    /violations, /requests, /tenant, /apiserver(s), /auth:
      GET  /apiservers                  [{name, port, server, up, client_ca_file,
                                          client_cas: [sha256]}]
      POST /apiserver?name=N&down=1|0   take apiserver N down (its port refuses
                                        connections, open ones are cut) or bring
                                        it up again on the same port
      GET|POST /auth {"anonymous": bool, "drop_untrusted_client_certs": bool}

Authentication works like kube-apiserver: the TLS handshake *requests* a client
certificate but accepts any (OpenSSL's SSL_CTX_set_verify with an accept-all
callback, reached through ctypes because Python's ssl module has no verify
callback); every request is then judged against the *current* client-CA set,
so an untrusted or removed CA gets HTTP 401 with a Status body, also on an
already open keep-alive connection.  The client-CA set of the management
server is: the issuing CA (unless dropped via /client-cas) + CAs set at runtime
via /client-cas + every certificate in --client-ca-file (re-read on every
request; a missing file is empty; an unparsable file keeps the last good set,
like kube-apiserver's dynamic CA reload).  A client certificate must be
issued directly by one of those CAs (no intermediates: Python 3.11 cannot see
the client's chain), be within its validity and carry clientAuth if it has an
EKU.  Bearer tokens: the admin token in ready.json.  Authenticator order is
x509, then token (kube's union authenticator: the first that succeeds wins).
x509 has no opinion while the client-CA set is empty or the certificate has
no CN.  Without --anonymous-auth (the default, as --anonymous-auth=false)
every unauthenticated request gets 401.

--anonymous-auth: as kube-apiserver does it (union.NewFailOnError), a request
that carries NO credential is user "system:anonymous", groups
["system:unauthenticated"]: it may GET /version, /readyz, /livez, /healthz
(system:public-info-viewer) and gets 403 with RBAC's message on everything
else, SelfSubjectReview included ('selfsubjectreviews.authentication.k8s.io is
forbidden: User "system:anonymous" cannot create resource "selfsubjectreviews"
in API group "authentication.k8s.io" at the cluster scope'; other paths:
'forbidden: User "system:anonymous" cannot get path "/api"').  A credential
that FAILS -- a client certificate that does not verify, a bad token -- is
still 401: the real server does not downgrade it to anonymous, and an
OpenSSL-based client (curl, libcurl, Python) always sends its certificate.
So the trap is a client that sends no certificate while the probe still
"works": GET /version answers 200 to anyone; only SelfSubjectReview (201 and
the expected username) proves who was authenticated.

--drop-untrusted-client-certs additionally plays a Go crypto/tls client with
Config.Certificates, which does not send a certificate whose issuer is not
among the CA names of the server's CertificateRequest (kube-apiserver names
its client CAs): a client certificate whose issuer is not the subject of any
CA in the set counts as not sent (anonymous if enabled, else 401).  With it,
an untrusted certificate gets 200 on GET /version and 403 on
SelfSubjectReview.  (client-go/kubectl set GetClientCertificate and always send
their certificate.)  Both switches can be flipped at runtime on /auth.

Authorization (RBAC-lite): groups system:masters and kubeadm:cluster-admins and
the admin token may do everything; other users get 403 with kube's RBAC
message.  The fault "forbid" denies a verb on a named object even to admins
(a stand-in for a denying admission webhook), with the same message format.

Faults (POST /faults on the control port replaces the fault set; JSON):
  {"too_many_requests": {"count": N, "retry_after": S},  # next N API requests get 429
   "forbid": [{"verb": "delete", "resource": "secrets", "namespace": NS, "name": X}],
   "conflict": {"count": N},                              # next N PUTs get 409 Conflict
   "watch_gone": {"count": N, "mode": "event"|"http"},    # next N watches get 410
   "watch_cut": {"count": N, "after_events": K},          # cut next N watch streams
   "pod_never_ready": true | "name-prefix"}               # reconciler pods stay unready
Counters count down; GET /faults shows what is left.

Kamaji (--kamaji-tenant NAME --tenant-namespace NS; Cozystack names the TCP
kubernetes-<app> in tenant-<x>): seeds in NS Kamaji's 13 Secrets, the seed's 11
<NAME>-{ca, sa-certificate, api-server-certificate,
api-server-kubelet-client-certificate, front-proxy-client-certificate,
datastore-certificate, konnectivity-certificate, admin-kubeconfig,
controller-manager-kubeconfig, scheduler-kubeconfig, konnectivity-kubeconfig}
plus <NAME>-front-proxy-ca-certificate (front-proxy-ca.crt/.key) and
<NAME>-datastore-config (no certificate), a TenantControlPlane NAME with
status.kubernetesResources.version.status=Ready, Kamaji controller pods
(app.kubernetes.io/name=kamaji in --kamaji-namespace), pods app=<NAME>-kcsi-driver,
tenant control-plane pods (kamaji.clastix.io/name=NAME) and --worker-vms
worker VMs' launcher pods virt-launcher-<vm>-xxxxx (vm = NAME-md0-<hash>-...)
labelled kubevirt.io=virt-launcher and cluster.x-k8s.io/cluster-name=NAME (or
--vm-cluster-label), all Ready.  As in Kamaji (sources: docs/testing-doubles.md):
  * leaf certificates are signed by the tenant CA <NAME>-ca, except the
    front-proxy client (front-proxy CA) and the datastore client certificate
    (the DataStore's own CA, which the double keeps and never rotates); a leaf
    that no longer verifies against its CA is re-issued;
  * a deleted Secret is regenerated after --rotate-delay; a deleted <NAME>-ca
    or certs.kamaji.clastix.io/rotate="" on it makes a NEW tenant CA, status
    goes CertificateAuthorityRotating, every CA-signed leaf and every
    kubeconfig is re-issued, status goes Ready, then the tenant control-plane
    and worker VM launcher pods are replaced (after --vm-restart-delay; new
    names and uids, Ready after --pod-ready-delay); the same for the
    front-proxy CA and front-proxy-client; rotate="" on any managed Secret
    rotates it in place and the annotation is KEPT with the RFC 3339 time of
    the rotation (a timestamp is not a request);
  * status is computed as Kamaji's computeStatus: replicas 0 -> Sleeping,
    spec.writePermissions.block* -> WriteLimited, else Ready;
  * a <NAME>-ca replaced by a client (different ca.crt/ca.key) is adopted and
    cascades the same way (Kamaji reads only the first PEM block of ca.crt);
  * deleted controller/kcsi pods are recreated (new uid), like a Deployment;
  * annotation kamaji.clastix.io/paused on the TenantControlPlane freezes
    Secret reconciliation.
--no-konnectivity: no konnectivity-* Secrets (the addon off).
Fault "hold_vm_restart": true postpones the worker VMs' replacement while set
(a test can then know a client is waiting for them).
Fault "tenant_trusts_removed_ca": true makes the tenant API server keep
trusting every replaced tenant CA for client certificates.
The tenant API server (tenant_port in ready.json) serves with the current
<NAME>-api-server-certificate (signed by the tenant CA; new connections pick
up a rotated one) and trusts exactly the current tenant CA for client
certificates.  So after a rotation the new admin.conf/super-admin.conf work,
the old client certificate gets 401, and a whole old kubeconfig fails
earlier, at server verification (its certificate-authority-data is the old
CA) -- as with real Kamaji.

Security oracle: every request body (and path) is scanned for private keys:
PEM blocks, also inside JSON strings, base64 values and base64 inside
kubeconfig YAML, up to three levels deep.  A key whose public half the double
did not generate itself is a violation, recorded (public-key SHA-256, method,
path, user -- never the key) and served at GET /violations on the control port.

Files written to --dir: ready.json {port, pid, server, kubeconfig,
token_kubeconfig, token, ca_file, issuing_ca_cert, issuing_ca_key,
control_port, control_token, apiservers: [{name, port, server}] (flag order),
tenant_port, tenant_name, tenant_namespace, kamaji_namespace},
admin.kubeconfig (client certificate CN=kubernetes-admin,
O=system:masters), token.kubeconfig, ca.crt, issuing-ca.crt, issuing-ca.key.
The double exits by itself after --deadline seconds; SIGTERM stops it.
"""

import argparse
import base64
import bisect
import copy
import ctypes
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import random
import re
import secrets as pysecrets
import signal
import socket
import socketserver
import ssl
import string
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

STOP = threading.Event()
KUBE_VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.1",
                "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828",
                "gitTreeState": "clean", "buildDate": "2025-05-15T08:19:08Z",
                "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"}


def log(msg):
    sys.stderr.write("kube_double: %s\n" % msg)
    sys.stderr.flush()


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n=5):
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(random.choice(alphabet) for _ in range(n))


# --------------------------------------------------------------------------
# TLS: request a client certificate, accept any, judge per request.

_libssl = ctypes.CDLL("libssl.so.3")
_libssl.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
_libssl.SSL_CTX_set_verify.restype = None
_libssl.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
_libssl.SSL_CTX_get_verify_mode.restype = ctypes.c_int
_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_accept_all_cb = _VERIFY_CB(lambda ok, store: 1)
SSL_VERIFY_PEER = 1


def _ssl_ctx_pointer(ctx):
    # CPython's PySSLContext is {PyObject_HEAD; SSL_CTX *ctx; ...}.
    return ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value


def server_context(cert_pem, key_pem, workdir):
    """An SSLContext serving cert/key that requests any client certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    fd, path = tempfile.mkstemp(dir=workdir, prefix=".serving-")
    try:
        os.write(fd, cert_pem + key_pem)
        os.close(fd)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
    ctx.verify_mode = ssl.CERT_NONE
    ptr = _ssl_ctx_pointer(ctx)
    if _libssl.SSL_CTX_get_verify_mode(ptr) != 0:
        raise RuntimeError("SSL_CTX layout check failed")
    ctx.verify_mode = ssl.CERT_OPTIONAL
    if _libssl.SSL_CTX_get_verify_mode(ptr) != SSL_VERIFY_PEER:
        raise RuntimeError("SSL_CTX layout check failed")
    _libssl.SSL_CTX_set_verify(ptr, SSL_VERIFY_PEER,
                               ctypes.cast(_accept_all_cb, ctypes.c_void_p))
    return ctx


# --------------------------------------------------------------------------
# PKI

def spki_sha256(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key, traditional=True):
    fmt = serialization.PrivateFormat.TraditionalOpenSSL
    if not traditional or isinstance(key, ed25519.Ed25519PrivateKey):
        fmt = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def cert_sha256(cert):
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


PEM_CERT_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----")


def load_pem_certs(data):
    """Every CERTIFICATE block of data; raises ValueError on a bad block."""
    return [x509.load_pem_x509_certificate(m.group(0)) for m in PEM_CERT_RE.finditer(data)]


class PKI:
    """Generates keys and certificates; remembers every public key it made."""

    def __init__(self, key_type):
        self.key_type = key_type
        self.lock = threading.Lock()
        self.issued = set()

    def remember(self, key):
        with self.lock:
            self.issued.add(spki_sha256(key.public_key()))

    def is_issued(self, fp):
        with self.lock:
            return fp in self.issued

    def new_key(self, kind=None):
        kind = kind or self.key_type
        if kind == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        self.remember(key)
        return key

    @staticmethod
    def _name(cn, orgs=()):
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        return x509.Name(attrs)

    def ca(self, cn, orgs=(), days=3650):
        key = self.new_key()
        name = self._name(cn, orgs)
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        return cert, key

    def leaf(self, ca, cn, orgs=(), server=False, client=False, dns=(), ips=(), days=365):
        ca_cert, ca_key = ca
        key = self.new_key()
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        ekus = []
        if server:
            ekus.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            ekus.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        b = (x509.CertificateBuilder().subject_name(self._name(cn, orgs))
             .issuer_name(ca_cert.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                                          data_encipherment=False, key_agreement=False,
                                          key_cert_sign=False, crl_sign=False,
                                          encipher_only=False, decipher_only=False),
                            critical=True)
             .add_extension(x509.ExtendedKeyUsage(ekus), critical=False))
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        try:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
            b = b.add_extension(aki, critical=False)
        except Exception:
            pass
        cert = b.sign(ca_key, None if isinstance(ca_key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
        return cert, key


def directly_issued(cert, ca):
    """True if ca's key signed cert (cryptography 38 has no verify_directly_issued_by)."""
    if cert.issuer != ca.subject:
        return False
    pub = ca.public_key()
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        elif isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, Exception):
        return False
    return True


def client_cert_ok(cert, cas):
    now = datetime.datetime.utcnow()
    if cert.not_valid_before > now or cert.not_valid_after < now:
        return False
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku and \
                ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            return False
    except x509.ExtensionNotFound:
        pass
    for ca in cas:
        if ca.not_valid_before > now or ca.not_valid_after < now:
            continue
        if directly_issued(cert, ca):
            return True
    return False


def kubeconfig_yaml(cluster, server, ca, user, cert=None, key=None, token=None):
    b = lambda x: base64.b64encode(x).decode()
    out = ["apiVersion: v1", "kind: Config", "clusters:", "- name: %s" % cluster, "  cluster:",
           "    server: %s" % server, "    certificate-authority-data: %s" % b(ca),
           "users:", "- name: %s" % user, "  user:"]
    if cert is not None:
        out += ["    client-certificate-data: %s" % b(cert), "    client-key-data: %s" % b(key)]
    if token is not None:
        out += ["    token: %s" % token]
    ctxname = "%s@%s" % (user, cluster)
    out += ["contexts:", "- name: %s" % ctxname, "  context:", "    cluster: %s" % cluster,
            "    user: %s" % user, "current-context: %s" % ctxname, "preferences: {}", ""]
    return "\n".join(out).encode()


# --------------------------------------------------------------------------
# Security oracle

PEM_KEY_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----")
B64_RE = re.compile(rb"[A-Za-z0-9+/]{40,}={0,2}")


def find_private_keys(blob, depth=0, out=None):
    if out is None:
        out = []
    for m in PEM_KEY_RE.finditer(blob):
        out.append(m.group(0))
    if depth < 3:
        for m in B64_RE.finditer(blob):
            try:
                dec = base64.b64decode(m.group(0), validate=True)
            except Exception:
                continue
            if b"PRIVATE KEY" in dec or B64_RE.search(dec):
                find_private_keys(dec, depth + 1, out)
    return out


def json_strings(v, out):
    if isinstance(v, str):
        out.append(v.encode())
    elif isinstance(v, dict):
        for k, x in v.items():
            json_strings(k, out)
            json_strings(x, out)
    elif isinstance(v, list):
        for x in v:
            json_strings(x, out)
    return out


class Oracle:
    def __init__(self, pki):
        self.pki = pki
        self.lock = threading.Lock()
        self.violations = []

    def scan(self, server, method, path, body, user):
        blobs = [path.encode("utf-8", "replace")]
        if body:
            try:
                blobs += json_strings(json.loads(body), [])
            except Exception:
                blobs.append(body)
        seen = set()
        for blob in blobs:
            for pem in find_private_keys(blob):
                if pem in seen:
                    continue
                seen.add(pem)
                self._judge(server, method, path, user, pem)

    def _judge(self, server, method, path, user, pem):
        fixed = pem.replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY")
        try:
            key = serialization.load_pem_private_key(fixed, password=None)
            fp = spki_sha256(key.public_key())
        except Exception:
            fp = None
        if fp is not None and self.pki.is_issued(fp):
            return
        v = {"time": now_rfc3339(), "server": server, "method": method,
             "path": path.split("?")[0], "user": user,
             "reason": "private key not issued by the double" if fp else
                       "unparsable or encrypted private key",
             "public_key_sha256": fp}
        with self.lock:
            self.violations.append(v)
        log("VIOLATION: %s %s carries a private key the double did not issue" % (method, path))


# --------------------------------------------------------------------------
# API objects

class ApiError(Exception):
    def __init__(self, code, reason, message, name=None, kind=None, group=None, extra=None):
        super().__init__(message)
        self.code = code
        self.status = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message, "reason": reason}
        if name is not None or kind is not None or extra is not None:
            d = {}
            if name is not None:
                d["name"] = name
            if group:
                d["group"] = group
            if kind is not None:
                d["kind"] = kind
            if extra:
                d.update(extra)
            self.status["details"] = d
        self.status["code"] = code
        self.headers = {}


class Resource:
    def __init__(self, plural, kind, group="", version="v1", namespaced=True):
        self.plural, self.kind, self.group, self.version = plural, kind, group, version
        self.namespaced = namespaced

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def qualified(self):
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    def not_found(self, name):
        return ApiError(404, "NotFound", '%s "%s" not found' % (self.qualified, name),
                        name=name, kind=self.plural, group=self.group)


RESOURCES = {
    ("", "secrets"): Resource("secrets", "Secret"),
    ("", "configmaps"): Resource("configmaps", "ConfigMap"),
    ("", "pods"): Resource("pods", "Pod"),
    ("coordination.k8s.io", "leases"): Resource("leases", "Lease", "coordination.k8s.io", "v1"),
    ("kamaji.clastix.io", "tenantcontrolplanes"):
        Resource("tenantcontrolplanes", "TenantControlPlane", "kamaji.clastix.io", "v1alpha1"),
}

DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_VAL = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
# metav1.MicroTime as encoded on the wire (RFC 3339 with microseconds, UTC "Z" or an offset)
MICROTIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def split_top_commas(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def parse_label_selector(s):
    """Return a list of (key, op, values); raise ApiError 400 on a bad selector."""
    reqs = []
    if not s:
        return reqs
    for part in split_top_commas(s):
        p = part.strip()
        if not p:
            continue
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^()]*)\)", p)
        if m:
            key, op = m.group(1), m.group(2)
            vals = [v.strip() for v in m.group(3).split(",")]
        elif "!=" in p:
            key, _, v = p.partition("!=")
            key, op, vals = key.strip(), "!=", [v.strip()]
        elif "==" in p:
            key, _, v = p.partition("==")
            key, op, vals = key.strip(), "=", [v.strip()]
        elif "=" in p:
            key, _, v = p.partition("=")
            key, op, vals = key.strip(), "=", [v.strip()]
        elif p.startswith("!"):
            key, op, vals = p[1:].strip(), "!", []
        else:
            key, op, vals = p, "exists", []
        if not LABEL_KEY.match(key) or any(not LABEL_VAL.match(v) for v in vals):
            raise ApiError(400, "BadRequest",
                           "unable to parse requirement: invalid label selector: %r" % p)
        reqs.append((key, op, vals))
    return reqs


def labels_match(labels, reqs):
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=" and v != vals[0]:
            return False
        if op == "!=" and has and v == vals[0]:
            return False
        if op == "in" and (not has or v not in vals):
            return False
        if op == "notin" and has and v in vals:
            return False
        if op == "exists" and not has:
            return False
        if op == "!" and has:
            return False
    return True


def parse_field_selector(s):
    reqs = []
    for p in (s or "").split(","):
        p = p.strip()
        if not p:
            continue
        m = re.fullmatch(r"(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(\S*)", p)
        if not m:
            raise ApiError(400, "BadRequest",
                           'field label not supported: %s' % p.split("=")[0].strip("!"))
        reqs.append((m.group(1).split(".")[1], m.group(2) != "!=", m.group(3)))
    return reqs


def fields_match(obj, reqs):
    md = obj.get("metadata", {})
    for field, eq, val in reqs:
        if (md.get(field, "") == val) != eq:
            return False
    return True


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


class Store:
    """Objects keyed by (group, plural, namespace, name); one resourceVersion counter."""

    def __init__(self, pod_grace):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.objects = {}
        self.events = []          # (rv, rkey, ns, type, obj, old)
        self.event_rvs = []
        self.compacted = 0
        self.pod_grace = pod_grace
        self.terminating = {}     # key -> monotonic removal time

    def _commit(self, rkey, ns, name, etype, obj, old):
        self.rv += 1
        if obj is not None:
            obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (rkey, ns, name)
        if etype == "DELETED":
            self.objects.pop(key, None)
            snap = copy.deepcopy(old)
            snap["metadata"]["resourceVersion"] = str(self.rv)
        else:
            self.objects[key] = obj
            snap = copy.deepcopy(obj)
        self.events.append((self.rv, rkey, ns, etype, snap, copy.deepcopy(old)))
        self.event_rvs.append(self.rv)
        if len(self.events) > 20000:
            drop = len(self.events) - 20000
            self.compacted = self.events[drop - 1][0]
            del self.events[:drop]
            del self.event_rvs[:drop]
        self.cond.notify_all()

    @staticmethod
    def _validate(res, obj, name):
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata", {}), dict):
            raise ApiError(400, "BadRequest", "the object provided is not a valid %s" % res.kind)
        if obj.get("kind") not in (None, res.kind):
            raise ApiError(400, "BadRequest", "the object provided is unrecognized (must be of type %s): kind %s" % (res.kind, obj.get("kind")))
        if not name or not DNS1123_SUB.match(name) or len(name) > 253:
            raise ApiError(422, "Invalid", '%s %r is invalid: metadata.name: Invalid value: %r: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character' % (res.kind, name or "", name or ""),
                           name=name or "", kind=res.kind, group=res.group)
        md = obj.get("metadata", {})
        for field in ("labels", "annotations"):
            if not isinstance(md.get(field, {}), dict):
                raise ApiError(400, "BadRequest", "metadata.%s must be a map" % field)
        if res.plural == "leases":
            Store._validate_lease(res, obj, name)
        if res.plural in ("secrets", "configmaps"):
            sd = obj.pop("stringData", None) if res.plural == "secrets" else None
            data = obj.get("data") or {}
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "data must be a map")
            if sd:
                for k, v in sd.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
            for k, v in data.items():
                if not SECRET_KEY.match(k):
                    raise ApiError(422, "Invalid", '%s "%s" is invalid: data[%s]: Invalid value: "%s": a valid config key must consist of alphanumeric characters, \'-\', \'_\' or \'.\'' % (res.kind, name, k, k),
                                   name=name, kind=res.kind)
                if res.plural == "secrets":
                    try:
                        base64.b64decode(v, validate=True)
                    except Exception:
                        raise ApiError(400, "BadRequest", "illegal base64 data in secret %s key %s" % (name, k))
            if data or "data" in obj:
                obj["data"] = data
            if res.plural == "secrets":
                obj.setdefault("type", "Opaque")

    @staticmethod
    def _validate_lease(res, obj, name):
        # kubernetes pkg/apis/coordination/validation/validation.go ValidateLeaseSpec
        spec = obj.get("spec") or {}
        if not isinstance(spec, dict):
            raise ApiError(400, "BadRequest", "spec must be an object")
        errs = []
        d = spec.get("leaseDurationSeconds")
        if d is not None and (not isinstance(d, int) or d <= 0):
            errs.append("spec.leaseDurationSeconds: Invalid value: %s: must be greater than 0" % d)
        t = spec.get("leaseTransitions")
        if t is not None and (not isinstance(t, int) or t < 0):
            errs.append("spec.leaseTransitions: Invalid value: %s: must be greater than or equal to 0" % t)
        for f in ("acquireTime", "renewTime"):
            v = spec.get(f)
            if v is not None and not (isinstance(v, str) and MICROTIME.match(v)):
                raise ApiError(400, "BadRequest", 'Lease in version "v1" cannot be handled as a Lease: parsing time %r as "2006-01-02T15:04:05.000000Z07:00": cannot parse' % v)
        if errs:
            raise ApiError(422, "Invalid", 'Lease.coordination.k8s.io "%s" is invalid: %s' % (name, ", ".join(errs)),
                           name=name, kind="Lease", group=res.group)

    def create(self, res, ns, obj):
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {}) if isinstance(obj, dict) else None
        if md is not None and not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + rand_suffix()
        name = md.get("name") if md else None
        self._validate(res, obj, name)
        if ns is not None and md.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request")
        with self.cond:
            key = ((res.group, res.plural), ns, name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (res.qualified, name),
                               name=name, kind=res.plural, group=res.group)
            obj["apiVersion"] = res.api_version
            obj["kind"] = res.kind
            md["namespace"] = ns
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_rfc3339()
            md.pop("deletionTimestamp", None)
            md.pop("resourceVersion", None)
            if res.group and res.plural != "leases":  # leaseStrategy sets no generation
                md["generation"] = 1
            self._commit(key[0], ns, name, "ADDED", obj, None)
            return copy.deepcopy(obj)

    def get(self, res, ns, name):
        with self.cond:
            obj = self.objects.get(((res.group, res.plural), ns, name))
            if obj is None:
                raise res.not_found(name)
            return copy.deepcopy(obj)

    def list(self, res, ns, lsel, fsel):
        with self.cond:
            items = [copy.deepcopy(o) for (rk, ons, _), o in sorted(self.objects.items())
                     if rk == (res.group, res.plural) and (ns is None or ons == ns)
                     and labels_match(o["metadata"].get("labels"), lsel) and fields_match(o, fsel)]
            return items, self.rv

    def _replace(self, res, ns, name, new, old):
        md = new.setdefault("metadata", {})
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            if k in old["metadata"]:
                md[k] = old["metadata"][k]
            else:
                md.pop(k, None)
        md["name"], md["namespace"] = name, ns
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        self._validate(res, new, name)
        if res.group and res.plural != "leases" and new.get("spec") != old.get("spec"):
            md["generation"] = old["metadata"].get("generation", 1) + 1
        self._commit((res.group, res.plural), ns, name, "MODIFIED", new, old)
        return copy.deepcopy(new)

    def _conflict(self, res, name):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your changes to the latest version and try again' % (res.qualified, name),
                        name=name, kind=res.plural, group=res.group)

    def update(self, res, ns, name, obj, force_conflict=False):
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the object provided is not a valid %s" % res.kind)
        obj = copy.deepcopy(obj)
        md = obj.get("metadata") or {}
        if md.get("name") not in (None, name):
            raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)" % (md.get("name"), name))
        with self.cond:
            old = self.objects.get(((res.group, res.plural), ns, name))
            rv = md.get("resourceVersion")
            if res.plural == "leases":
                # leaseStrategy: AllowCreateOnUpdate true, AllowUnconditionalUpdate false
                # (pkg/registry/coordination/lease/strategy.go; the generic Store.Update in
                # staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go)
                if old is None:
                    return self.create(res, ns, dict(obj, metadata=dict(md, name=name)))
                if rv in (None, "") and not force_conflict:
                    raise ApiError(422, "Invalid", '%s "%s" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update' % (res.qualified, name),
                                   name=name, kind=res.plural, group=res.group)
            if old is None:
                raise res.not_found(name)
            if force_conflict or (rv not in (None, "") and rv != old["metadata"]["resourceVersion"]):
                raise self._conflict(res, name)
            return self._replace(res, ns, name, obj, old)

    def patch(self, res, ns, name, patch):
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "merge patch must be a JSON object")
        with self.cond:
            old = self.objects.get(((res.group, res.plural), ns, name))
            if old is None:
                raise res.not_found(name)
            rv = (patch.get("metadata") or {}).get("resourceVersion")
            if rv not in (None, "") and rv != old["metadata"]["resourceVersion"]:
                raise self._conflict(res, name)
            new = merge_patch(copy.deepcopy(old), patch)
            return self._replace(res, ns, name, new, old)

    def delete(self, res, ns, name, options=None):
        with self.cond:
            key = ((res.group, res.plural), ns, name)
            old = self.objects.get(key)
            if old is None:
                raise res.not_found(name)
            pre = (options or {}).get("preconditions") or {}
            if pre.get("uid") not in (None, old["metadata"]["uid"]):
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: UID in precondition: %s, UID in object meta: %s' % (res.qualified, name, pre["uid"], old["metadata"]["uid"]),
                               name=name, kind=res.plural, group=res.group)
            if pre.get("resourceVersion") not in (None, old["metadata"]["resourceVersion"]):
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s' % (res.qualified, name, pre["resourceVersion"], old["metadata"]["resourceVersion"]),
                               name=name, kind=res.plural, group=res.group)
            if res.plural == "pods" and self.pod_grace > 0:
                if "deletionTimestamp" not in old["metadata"]:
                    new = copy.deepcopy(old)
                    new["metadata"]["deletionTimestamp"] = now_rfc3339()
                    new["metadata"]["deletionGracePeriodSeconds"] = 30
                    self._commit(key[0], ns, name, "MODIFIED", new, old)
                    self.terminating[key] = time.monotonic() + self.pod_grace
                    return copy.deepcopy(new)
                return copy.deepcopy(old)
            self._commit(key[0], ns, name, "DELETED", None, old)
            if res.plural == "pods":
                return copy.deepcopy(old)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": dict(name=name, kind=res.plural, uid=old["metadata"]["uid"],
                                    **({"group": res.group} if res.group else {}))}

    def housekeeping(self):
        with self.cond:
            now = time.monotonic()
            for key, when in list(self.terminating.items()):
                if when <= now:
                    del self.terminating[key]
                    old = self.objects.get(key)
                    if old is not None:
                        self._commit(key[0], key[1], key[2], "DELETED", None, old)

    def compact(self):
        with self.cond:
            self.compacted = self.rv
            self.events.clear()
            self.event_rvs.clear()
            return self.rv


# --------------------------------------------------------------------------
# A cluster = a store + its authentication and faults.

class Cluster:
    def __init__(self, label, store, pki, oracle, client_cas_fn, tokens):
        self.label = label
        self.store = store
        self.pki = pki
        self.oracle = oracle
        self.client_cas_fn = client_cas_fn
        self.tokens = tokens
        # --anonymous-auth and the Go-client emulation; switchable at /auth.
        self.anonymous = False
        self.drop_untrusted = False
        self.flock = threading.Lock()
        self.faults = {}
        self.reqlock = threading.Lock()
        self.requests = []

    def take_fault(self, name):
        """Consume one count of a counted fault; returns its dict or None."""
        with self.flock:
            f = self.faults.get(name)
            if not f or f.get("count", 0) <= 0:
                return None
            f["count"] -= 1
            return dict(f)

    def forbidden(self, verb, res, ns, name):
        with self.flock:
            for f in self.faults.get("forbid", []):
                if (f.get("verb") in (None, verb) and f.get("resource") in (None, res.plural)
                        and f.get("namespace") in (None, ns) and f.get("name") in (None, name)):
                    return True
        return False

    def pod_never_ready(self, name):
        with self.flock:
            v = self.faults.get("pod_never_ready")
        return v is True or (isinstance(v, str) and name.startswith(v))

    def record(self, entry):
        with self.reqlock:
            self.requests.append(entry)
            if len(self.requests) > 5000:
                del self.requests[:1000]


class ManagementCAs:
    """Client-CA set of the management API server."""

    def __init__(self, issuing_cert, client_ca_file):
        self.lock = threading.Lock()
        self.issuing = issuing_cert
        self.use_issuing = True
        self.runtime = []
        self.file = client_ca_file
        self.file_good = []

    def __call__(self):
        file_cas = []
        if self.file:
            try:
                with open(self.file, "rb") as f:
                    data = f.read()
                file_cas = load_pem_certs(data)
                with self.lock:
                    self.file_good = file_cas
            except FileNotFoundError:
                with self.lock:
                    self.file_good = []
            except Exception:
                with self.lock:
                    file_cas = self.file_good
        with self.lock:
            cas = ([self.issuing] if self.use_issuing else []) + list(self.runtime)
        return cas + file_cas


class FileCAs:
    """Client-CA set of one --apiserver: exactly the certificates in a file,
    re-read on every call, like kube-apiserver's --client-ca-file reload.  A
    missing file is an empty set; a file without a parsable certificate keeps
    the last good set."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.good = []

    def __call__(self):
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            with self.lock:
                self.good = []
            return []
        except OSError:
            with self.lock:
                return list(self.good)
        try:
            cas = load_pem_certs(data)
        except Exception:
            cas = []
        with self.lock:
            if not cas:
                return list(self.good)
            self.good = cas
            return list(cas)


# --------------------------------------------------------------------------
# HTTP handler

ANONYMOUS = {"name": "system:anonymous", "groups": ["system:unauthenticated"],
             "anonymous": True}
SSR_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SSR = Resource("selfsubjectreviews", "SelfSubjectReview", "authentication.k8s.io", "v1",
               namespaced=False)
# Non-resource URLs that system:public-info-viewer opens to everyone.
PUBLIC_PATHS = ("/version", "/version/", "/readyz", "/livez", "/healthz")

def split_path(path):
    """Route an API path; returns (kind, res, ns, name) or raises ApiError 404."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
        if (group, parts[2]) not in (("kamaji.clastix.io", "v1alpha1"), ("coordination.k8s.io", "v1")):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    ns = None
    if len(rest) >= 2 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    res = RESOURCES.get((group, rest[0]))
    if res is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) == 2 else None
    if name is not None and ns is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return res, ns, name


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-double"
    sys_version = ""
    timeout = 60

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # -- responses
    def send_json(self, code, obj, headers=None):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self._code = code

    def send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self._code = code

    def send_error_status(self, e):
        self.send_json(e.code, e.status, e.headers)

    # -- authentication
    def authenticate(self):
        """The user, or None for 401.  As kube-apiserver: x509, then token; a
        credential that fails (a client certificate that does not verify, a
        bad token) is an error, and with anonymous auth an error is still 401
        (union.NewFailOnError): only a request that carries no credential at
        all becomes system:anonymous.  x509 has no opinion while the CA set
        is empty or the certificate has no CN."""
        srv = self.server
        cluster = srv.cluster
        failed = False
        der = None
        try:
            der = self.connection.getpeercert(binary_form=True)
        except Exception:
            der = None
        if der:
            cas = srv.client_cas()
            try:
                cert = x509.load_der_x509_certificate(der)
            except Exception:
                cert = None
            if cert is None:
                failed = bool(cas)
            elif cas and client_cert_ok(cert, cas):
                cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
                if cn and cn[0].value:
                    return {"name": cn[0].value, "groups": orgs + ["system:authenticated"]}
            elif cas:
                # A Go crypto/tls client (Config.Certificates) does not send a
                # certificate whose issuer the server's CertificateRequest does
                # not name; with drop_untrusted the double plays that client.
                named = any(cert.issuer == ca.subject for ca in cas)
                failed = named or not cluster.drop_untrusted
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            user = cluster.tokens.get(auth[7:].strip())
            if user:
                return user
            failed = True
        if failed or not cluster.anonymous:
            return None
        return dict(ANONYMOUS)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ApiError(411, "BadRequest", "chunked request bodies are not supported by the double")
        n = int(self.headers.get("Content-Length") or 0)
        if n > 8 * 1024 * 1024:
            raise ApiError(413, "RequestEntityTooLarge", "the request is too large")
        return self.rfile.read(n) if n else b""

    def dispatch(self, method):
        cluster = self.server.cluster
        self._code = 0
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        user = None
        entry = {"time": now_rfc3339(), "method": method, "path": url.path,
                 "query": url.query, "user": None, "code": 0}
        if self.server.apiserver is not None:
            entry["apiserver"] = self.server.apiserver
        cluster.record(entry)  # in-flight requests (watches) show up at once
        try:
            body = self.read_body()
            user = self.authenticate()
            cluster.oracle.scan(self.server.label, method, self.path, body,
                                user["name"] if user else None)
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            f = cluster.take_fault("too_many_requests")
            if f:
                ra = str(int(f.get("retry_after", 1)))
                e = ApiError(429, "TooManyRequests", "Too many requests, please try again later.",
                             extra={"retryAfterSeconds": int(ra)})
                e.headers["Retry-After"] = ra
                raise e
            self.route(method, url.path, q, body, user)
        except ApiError as e:
            self.send_error_status(e)
        except OSError:  # the client went away, or its apiserver went down
            self.close_connection = True
        except Exception as e:  # a bug in the double: answer 500, keep serving
            log("internal error on %s %s: %r" % (method, url.path, e))
            try:
                self.send_error_status(ApiError(500, "InternalError", "kube_double: %s" % e))
            except Exception:
                self.close_connection = True
        finally:
            entry["user"] = user["name"] if user else None
            entry["code"] = self._code

    def authorize(self, user, verb, res, ns, name):
        cluster = self.server.cluster
        admin = any(g in ("system:masters", "kubeadm:cluster-admins") for g in user["groups"])
        if admin and not cluster.forbidden(verb, res, ns, name):
            return
        raise self.forbidden_error(user, verb, res, ns, name)

    @staticmethod
    def forbidden_error(user, verb, res, ns, name):
        """403 with kube's RBAC message."""
        what = '%s "%s"' % (res.qualified, name) if name else res.qualified
        where = ' in the namespace "%s"' % ns if ns else " at the cluster scope"
        return ApiError(403, "Forbidden",
                       '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s"%s'
                       % (what, user["name"], verb, res.plural, res.group, where),
                       name=name or None, kind=res.plural, group=res.group)

    def deny_anonymous(self, method, path, q, user):
        """403 as RBAC answers system:anonymous (bound to nothing but the
        public-info-viewer paths)."""
        if path.rstrip("/") == SSR_PATH:
            self.authorize(user, "create", SSR, None, None)
        try:
            res, ns, name = split_path(path)
        except ApiError:
            raise ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"'
                           % (user["name"], method.lower(), path), extra={})
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}.get(method, "get")
        if method == "GET" and name is None:
            verb = "watch" if q.get("watch") in ("1", "true") else "list"
        self.authorize(user, verb, res, ns, name)
        raise ApiError(403, "Forbidden", "forbidden")  # authorize always refuses

    def self_subject_review(self, method, body, user):
        """Any authenticated user may (system:basic-user); only the forbid
        fault can refuse it."""
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if self.server.cluster.forbidden("create", SSR, None, None):
            raise self.forbidden_error(user, "create", SSR, None, None)
        try:
            obj = json.loads(body)
        except ValueError as e:
            raise ApiError(400, "BadRequest", "the object provided is unrecognized: %s" % e)
        if not isinstance(obj, dict) or obj.get("kind") not in (None, SSR.kind) \
                or obj.get("apiVersion") not in (None, SSR.api_version):
            raise ApiError(400, "BadRequest", "the object provided is unrecognized (must be of type %s)" % SSR.kind)
        self.send_json(201, {"kind": SSR.kind, "apiVersion": SSR.api_version,
                             "metadata": {"creationTimestamp": now_rfc3339()},
                             "status": {"userInfo": {"username": user["name"],
                                                     "groups": list(user["groups"])}}})

    def discovery(self, path):
        if path.rstrip("/") == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": [{
                                     "clientCIDR": "0.0.0.0/0",
                                     "serverAddress": "127.0.0.1:%d" % self.server.server_address[1]}]})
            return
        groups = []
        for group, version in (("authentication.k8s.io", "v1"), ("coordination.k8s.io", "v1"),
                               ("kamaji.clastix.io", "v1alpha1")):
            gv = {"groupVersion": "%s/%s" % (group, version), "version": version}
            groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    def route(self, method, path, q, body, user):
        store = self.server.cluster.store
        if path in ("/version", "/version/"):
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            self.send_json(200, KUBE_VERSION)
            return
        if path in ("/readyz", "/livez", "/healthz"):
            self.send_text(200, "ok")
            return
        if user.get("anonymous"):
            self.deny_anonymous(method, path, q, user)
        if path.rstrip("/") == SSR_PATH:
            self.self_subject_review(method, body, user)
            return
        if method == "GET" and path.rstrip("/") in ("/api", "/apis"):
            self.discovery(path)
            return
        res, ns, name = split_path(path)

        def parse(b):
            try:
                return json.loads(b or b"null")
            except ValueError as e:
                raise ApiError(400, "BadRequest", "the object provided is unrecognized: %s" % e)

        if method == "GET" and name is None:
            lsel = parse_label_selector(q.get("labelSelector", ""))
            fsel = parse_field_selector(q.get("fieldSelector", ""))
            watching = q.get("watch") in ("1", "true")
            self.authorize(user, "watch" if watching else "list", res, ns, None)
            if watching:
                self.watch(res, ns, lsel, fsel, q)
                return
            items, rv = store.list(res, ns, lsel, fsel)
            if not res.group:
                for it in items:
                    it.pop("kind", None)
                    it.pop("apiVersion", None)
            self.send_json(200, {"kind": res.kind + "List", "apiVersion": res.api_version,
                                 "metadata": {"resourceVersion": str(rv)}, "items": items})
        elif method == "GET":
            self.authorize(user, "get", res, ns, name)
            self.send_json(200, store.get(res, ns, name))
        elif method == "POST" and name is None and ns is not None:
            self.authorize(user, "create", res, ns, None)
            self.send_json(201, store.create(res, ns, parse(body)))
        elif method == "PUT" and name is not None:
            self.authorize(user, "update", res, ns, name)
            forced = self.server.cluster.take_fault("conflict") is not None
            self.send_json(200, store.update(res, ns, name, parse(body), forced))
        elif method == "PATCH" and name is not None:
            self.authorize(user, "patch", res, ns, name)
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype != "application/merge-patch+json":
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (kube_double supports merge patches only)")
            self.send_json(200, store.patch(res, ns, name, parse(body)))
        elif method == "DELETE" and name is not None:
            self.authorize(user, "delete", res, ns, name)
            opts = parse(body) if body else None
            self.send_json(200, store.delete(res, ns, name, opts))
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # -- watch
    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def event_line(self, etype, obj):
        return json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def watch(self, res, ns, lsel, fsel, q):
        cluster = self.server.cluster
        store = cluster.store
        rv_param = q.get("resourceVersion", "")
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        try:
            timeout = float(q.get("timeoutSeconds") or 1800)
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid timeoutSeconds")
        gone = cluster.take_fault("watch_gone")
        with store.cond:
            current = store.rv
            compacted = store.compacted
        if gone and gone.get("mode") == "http":
            raise ApiError(410, "Expired", "too old resource version: %s (%d)" % (rv_param or "0", current))
        cut = cluster.take_fault("watch_cut")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._code = 200
        try:
            start = int(rv_param) if rv_param not in ("", "0") else None
        except ValueError:
            start = -1
        if gone or (start is not None and (start < compacted or start < 0)):
            st = ApiError(410, "Expired", "too old resource version: %s (%d)" % (rv_param, current)).status
            self.write_chunk(self.event_line("ERROR", st))
            self.write_chunk(b"")
            return
        state = {"sent": 0}

        def emit(line):
            if cut and state["sent"] >= cut.get("after_events", 0):
                return False
            self.write_chunk(line)
            state["sent"] += 1
            return True

        with store.cond:
            if start is None:
                items, cursor = store.list(res, ns, lsel, fsel)
                lines = [self.event_line("ADDED", it) for it in items]
            else:
                cursor, lines = start, []
        for line in lines:
            if not emit(line):
                self.close_connection = True
                return
        end = time.monotonic() + timeout
        interval = self.server.bookmark_interval
        next_bm = time.monotonic() + interval
        rkey = (res.group, res.plural)
        while not STOP.is_set() and not self.server.stopped.is_set():
            now = time.monotonic()
            if now >= end:
                break
            if cut and state["sent"] >= cut.get("after_events", 0):
                self.close_connection = True
                return
            out = []
            with store.cond:
                i = bisect.bisect_right(store.event_rvs, cursor)
                if i == len(store.events):
                    wait = min(end, next_bm) - now if bookmarks else end - now
                    store.cond.wait(timeout=max(0.01, min(wait, 0.5)))
                    i = bisect.bisect_right(store.event_rvs, cursor)
                if cursor < store.compacted:
                    st = ApiError(410, "Expired", "too old resource version: %d (%d)" % (cursor, store.rv)).status
                    out.append(self.event_line("ERROR", st))
                for rv, rk, ens, etype, obj, old in store.events[i:]:
                    cursor = rv
                    if rk != rkey or (ns is not None and ens != ns):
                        continue
                    now_in = labels_match(obj["metadata"].get("labels"), lsel) and fields_match(obj, fsel)
                    was_in = old is not None and labels_match(old["metadata"].get("labels"), lsel) and fields_match(old, fsel)
                    if etype == "MODIFIED" and now_in and not was_in:
                        etype = "ADDED"
                    elif etype == "MODIFIED" and was_in and not now_in:
                        etype, now_in = "DELETED", True
                    if not now_in and not (etype == "DELETED" and was_in):
                        continue
                    out.append(self.event_line(etype, obj))
                due = bookmarks and time.monotonic() >= next_bm
                if due:
                    cursor = max(cursor, store.rv)
                    out.append(self.event_line("BOOKMARK", {
                        "kind": res.kind, "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(cursor)}}))
            if due:
                next_bm = time.monotonic() + interval
            for line in out:
                if not emit(line):
                    self.close_connection = True
                    return
                if line.startswith(b'{"type":"ERROR"'):
                    self.write_chunk(b"")
                    return
        if cut:
            self.close_connection = True
            return
        self.write_chunk(b"")


class TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, cluster, ctx_fn, bookmark_interval, port=0, client_cas_fn=None,
                 apiserver=None):
        self.cluster = cluster
        self.ctx_fn = ctx_fn
        self.bookmark_interval = bookmark_interval
        # An --apiserver listener: its own client-CA set, its name in logs.
        self.client_cas_fn = client_cas_fn
        self.apiserver = apiserver
        self.label = cluster.label if apiserver is None else "apiserver/%s" % apiserver
        self.stopped = threading.Event()
        self.conns = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def client_cas(self):
        return (self.client_cas_fn or self.cluster.client_cas_fn)()

    def finish_request(self, request, client_address):
        request.settimeout(10)
        with self.conn_lock:
            self.conns.add(request)
        tls = None
        try:
            tls = self.ctx_fn().wrap_socket(request, server_side=True)
            with self.conn_lock:
                self.conns.discard(request)
                self.conns.add(tls)
            if self.stopped.is_set():
                return
            tls.settimeout(None)
            self.RequestHandlerClass(tls, client_address, self)
        except Exception:
            pass
        finally:
            with self.conn_lock:
                self.conns.discard(request)
                self.conns.discard(tls)
            try:
                (tls or request).close()
            except OSError:
                pass

    def stop(self):
        """Refuse new connections and cut the open ones, as a stopped
        kube-apiserver would."""
        self.stopped.set()
        self.shutdown()
        self.server_close()
        with self.conn_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ApiServer:
    """One --apiserver NAME=CLIENT_CA_FILE: another listener on the management
    store (the kube-apiserver of one control-plane node) whose client-CA set
    is exactly the certificates in its file."""

    def __init__(self, double, name, ca_file):
        self.double = double
        self.name = name
        self.ca_file = ca_file
        self.cas = FileCAs(ca_file)
        self.lock = threading.Lock()
        self.port = 0
        self.server = None
        self.start()

    @property
    def up(self):
        return self.server is not None

    def start(self):
        d = self.double
        srv = TLSServer(d.cluster, d.serving_ctx_fn, d.args.bookmark_interval, port=self.port,
                        client_cas_fn=self.cas, apiserver=self.name)
        self.port = srv.server_address[1]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.server = srv

    def stop(self):
        srv, self.server = self.server, None
        if srv is not None:
            srv.stop()

    def set_down(self, down):
        with self.lock:
            if down and self.server is not None:
                self.stop()
            elif not down and self.server is None:
                self.start()

    def info(self):
        return {"name": self.name, "port": self.port,
                "server": "https://127.0.0.1:%d" % self.port}

    def state(self):
        return dict(self.info(), up=self.up, client_ca_file=self.ca_file,
                    client_cas=[cert_sha256(c) for c in self.cas()])


# --------------------------------------------------------------------------
# Kamaji-like reconciler

SEED_SUFFIXES = ["ca", "sa-certificate", "api-server-certificate",
                 "api-server-kubelet-client-certificate", "front-proxy-client-certificate",
                 "datastore-certificate", "konnectivity-certificate", "admin-kubeconfig",
                 "controller-manager-kubeconfig", "scheduler-kubeconfig", "konnectivity-kubeconfig"]
# Kamaji's 13 Secrets: the seed's 11, the front-proxy CA and the datastore config.
MANAGED = SEED_SUFFIXES + ["front-proxy-ca-certificate", "datastore-config"]
CA_SIGNED = ["api-server-certificate", "api-server-kubelet-client-certificate",
             "konnectivity-certificate", "admin-kubeconfig", "controller-manager-kubeconfig",
             "scheduler-kubeconfig", "konnectivity-kubeconfig"]
SECRETS = RESOURCES[("", "secrets")]
PODS = RESOURCES[("", "pods")]
TCPS = RESOURCES[("kamaji.clastix.io", "tenantcontrolplanes")]
ROTATE_ANN = "certs.kamaji.clastix.io/rotate"
PAUSED_ANN = "kamaji.clastix.io/paused"


def rotation_requested(sec):
    # internal/utilities/certs_rotation.go IsRotationRequested: exactly "".
    return sec is not None and (sec["metadata"].get("annotations") or {}).get(ROTATE_ANN) == ""


def tcp_computed_status(tcp):
    # internal/resources/k8s_deployment_resource.go computeStatus (no rollout here).
    spec = tcp.get("spec") or {}
    replicas = ((spec.get("controlPlane") or {}).get("deployment") or {}).get("replicas", 2)
    wp = spec.get("writePermissions") or {}
    if replicas == 0:
        return "Sleeping"
    if wp.get("blockCreation") or wp.get("blockUpdate") or wp.get("blockDeletion"):
        return "WriteLimited"
    return "Ready"


class Kamaji:
    def __init__(self, store, pki, args, tenant_url_fn):
        self.store, self.pki, self.args = store, pki, args
        self.name, self.ns, self.kns = args.kamaji_tenant, args.tenant_namespace, args.kamaji_namespace
        self.tenant_url = tenant_url_fn
        self.lock = threading.RLock()
        self.ca = None
        self.ca_fp = None
        self.old_cas = []            # every tenant CA replaced so far (fault tenant_trusts_removed_ca)
        self.front_proxy_ca = None
        self.fp_fp = None
        self.datastore_ca = pki.ca("datastore-ca")
        # Without the konnectivity addon Kamaji makes no konnectivity Secrets.
        self.managed = [m for m in MANAGED
                        if not (args.no_konnectivity and m.startswith("konnectivity-"))]
        self.generated = {}          # secret name -> (uid, rv, ca_fp, front-proxy ca_fp)
        self.pending_since = None
        self.rotations = 0
        self.fp_rotations = 0
        self.vm_restart_at = None
        self.ready_at = {}           # (ns, name) -> monotonic
        h = lambda n=9: "".join(random.choice("0123456789abcdef") for _ in range(n))
        self.replicasets = [
            {"ns": self.kns, "prefix": "kamaji-%s-" % h(), "count": 1, "restart": False,
             "labels": {"app.kubernetes.io/name": "kamaji", "app.kubernetes.io/instance": "kamaji"}},
            {"ns": self.ns, "prefix": "%s-kcsi-driver-%s-" % (self.name, h()), "count": 2, "restart": False,
             "labels": {"app": "%s-kcsi-driver" % self.name}},
            {"ns": self.ns, "prefix": "%s-%s-" % (self.name, h()), "count": 2, "restart": True,
             "labels": {"kamaji.clastix.io/name": self.name}},
        ]
        # Worker VMs as Cozystack + CAPK + KubeVirt make them: VM (= KubevirtMachine)
        # names start with the cluster (TCP) name; the launcher pod is GenerateName
        # "virt-launcher-<vm>-" with the VMI's labels plus kubevirt.io=virt-launcher.
        md = "%s-md0-%s" % (self.name, h(10))
        self.vms = []
        for _ in range(args.worker_vms):
            vm = "%s-%s-%s" % (md, rand_suffix(), rand_suffix())
            self.vms.append(vm)
            self.replicasets.append(
                {"ns": self.ns, "prefix": "virt-launcher-%s-" % vm, "count": 1, "restart": True,
                 "vm": True,
                 "labels": {"kubevirt.io": "virt-launcher", "kubevirt.io/vm": vm, "name": vm,
                            "cluster.x-k8s.io/cluster-name": args.vm_cluster_label or self.name,
                            "cluster.x-k8s.io/role": "worker",
                            "apps.cozystack.io/application.name":
                                self.name[len("kubernetes-"):] if self.name.startswith("kubernetes-") else self.name}})

    # -- secrets
    def sname(self, suffix):
        return "%s-%s" % (self.name, suffix)

    def secret_obj(self, suffix, data):
        name = self.sname(suffix)
        enc = {k: base64.b64encode(v).decode() for k, v in data.items()}
        checksum = hashlib.sha256(json.dumps(enc, sort_keys=True).encode()).hexdigest()
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": self.ns,
                             "labels": {"kamaji.clastix.io/name": self.name,
                                        "kamaji.clastix.io/component": suffix,
                                        "kamaji.clastix.io/project": "kamaji"},
                             "annotations": {"kamaji.clastix.io/checksum": checksum}},
                "data": enc}

    def put_secret(self, suffix, data, rotated=False):
        """CreateOrUpdate: the existing object's other annotations are kept; a
        rotation asked for with certs.kamaji.clastix.io/rotate="" leaves the
        annotation in place with the RFC 3339 time of the rotation
        (SetLastRotationTimestamp)."""
        obj = self.secret_obj(suffix, data)
        name = obj["metadata"]["name"]
        try:
            cur = self.store.get(SECRETS, self.ns, name)
            ann = dict(cur["metadata"].get("annotations") or {})
            ann.update(obj["metadata"]["annotations"])
            if rotated or rotation_requested(cur):
                ann[ROTATE_ANN] = now_rfc3339()
            obj["metadata"]["annotations"] = ann
            obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            new = self.store.update(SECRETS, self.ns, name, obj)
        except ApiError as e:
            if e.code != 404:
                raise
            new = self.store.create(SECRETS, self.ns, obj)
        self.generated[name] = (new["metadata"]["uid"], new["metadata"]["resourceVersion"],
                                self.ca_fp, self.fp_fp)

    def kubeconfig(self, user_cn, orgs, server):
        cert, key = self.pki.leaf(self.ca, user_cn, orgs, client=True)
        return kubeconfig_yaml(self.name, server, cert_pem(self.ca[0]), user_cn,
                               cert_pem(cert), key_pem(key))

    def make_leaf(self, suffix):
        ca = self.ca
        tenant = self.tenant_url()
        internal = "https://%s.%s.svc:6443" % (self.name, self.ns)
        if suffix == "api-server-certificate":
            c, k = self.pki.leaf(ca, "kube-apiserver", server=True, ips=["127.0.0.1", "10.96.0.1"],
                                 dns=["localhost", self.name, "%s.%s.svc" % (self.name, self.ns),
                                      "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                      "kubernetes.default.svc.cluster.local"])
            return {"apiserver.crt": cert_pem(c), "apiserver.key": key_pem(k)}
        if suffix == "api-server-kubelet-client-certificate":
            c, k = self.pki.leaf(ca, "kube-apiserver-kubelet-client", ["kubeadm:cluster-admins"], client=True)
            return {"apiserver-kubelet-client.crt": cert_pem(c), "apiserver-kubelet-client.key": key_pem(k)}
        if suffix == "konnectivity-certificate":
            c, k = self.pki.leaf(ca, "system:konnectivity-server", server=True, client=True,
                                 dns=["konnectivity-server", "%s.%s.svc" % (self.name, self.ns)])
            return {"tls.crt": cert_pem(c), "tls.key": key_pem(k)}
        if suffix == "front-proxy-client-certificate":
            c, k = self.pki.leaf(self.front_proxy_ca, "front-proxy-client", client=True)
            return {"front-proxy-client.crt": cert_pem(c), "front-proxy-client.key": key_pem(k)}
        if suffix == "datastore-certificate":
            c, k = self.pki.leaf(self.datastore_ca, "%s.%s" % (self.ns, self.name), client=True)
            return {"ca.crt": cert_pem(self.datastore_ca[0]), "server.crt": cert_pem(c),
                    "server.key": key_pem(k)}
        if suffix == "admin-kubeconfig":
            return {"admin.conf": self.kubeconfig("kubernetes-admin", ["kubeadm:cluster-admins"], tenant),
                    "admin.svc": self.kubeconfig("kubernetes-admin", ["kubeadm:cluster-admins"], internal),
                    "super-admin.conf": self.kubeconfig("kubernetes-super-admin", ["system:masters"], tenant),
                    "super-admin.svc": self.kubeconfig("kubernetes-super-admin", ["system:masters"], internal)}
        if suffix == "controller-manager-kubeconfig":
            return {"controller-manager.conf": self.kubeconfig("system:kube-controller-manager", [], "https://localhost:6443")}
        if suffix == "scheduler-kubeconfig":
            return {"scheduler.conf": self.kubeconfig("system:kube-scheduler", [], "https://localhost:6443")}
        if suffix == "konnectivity-kubeconfig":
            return {"konnectivity-server.conf": self.kubeconfig("system:konnectivity-server", [], "https://localhost:6443")}
        if suffix == "sa-certificate":
            k = self.pki.new_key("rsa" if self.args.key_type == "rsa" else None)
            pub = k.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
            return {"sa.pub": pub, "sa.key": key_pem(k)}
        if suffix == "front-proxy-ca-certificate":
            # kubeadm constants FrontProxyCACertName / FrontProxyCAKeyName
            return {"front-proxy-ca.crt": cert_pem(self.front_proxy_ca[0]),
                    "front-proxy-ca.key": key_pem(self.front_proxy_ca[1])}
        if suffix == "datastore-config":
            # internal/resources/datastore/datastore_storage_config.go: connection
            # settings of the DataStore, no certificate.
            return {"DB_CONNECTION_STRING": b"etcd-0.etcd.cozy-etcd.svc:2379",
                    "DB_SCHEMA": self.ns.replace("-", "_").encode() + b"_" + self.name.replace("-", "_").encode(),
                    "DB_USER": self.name.encode()}
        raise KeyError(suffix)

    def ca_data(self):
        c, k = self.ca
        return {"ca.crt": cert_pem(c), "ca.key": key_pem(k), "tls.crt": cert_pem(c), "tls.key": key_pem(k)}

    def read_secret(self, suffix):
        try:
            return self.store.get(SECRETS, self.ns, self.sname(suffix))
        except ApiError:
            return None

    def adopt_ca(self, sec):
        """A client put its own CA into <name>-ca: use it as Kamaji would."""
        data = sec.get("data") or {}
        crt = base64.b64decode(data.get("ca.crt", ""))
        key = base64.b64decode(data.get("ca.key", ""))
        certs = load_pem_certs(crt)
        if not certs:
            raise ValueError("no certificate in ca.crt")
        k = serialization.load_pem_private_key(key.replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY"), None)
        if spki_sha256(k.public_key()) != spki_sha256(certs[0].public_key()):
            raise ValueError("ca.key does not match ca.crt")
        return certs[0], k

    def set_status(self, status):
        try:
            tcp = self.store.get(TCPS, self.ns, self.name)
        except ApiError:
            return
        if status == "Ready":
            status = tcp_computed_status(tcp)
        cur = tcp.get("status", {}).get("kubernetesResources", {}).get("version", {}).get("status")
        if cur == status:
            return
        patch = {"status": {"kubernetesResources": {"version": {"status": status}}}}
        if status in ("Ready", "WriteLimited") and self.ca is not None:
            patch["status"]["certificates"] = {"ca": {"secretName": self.sname("ca"),
                                                      "checksum": self.ca_fp[:32],
                                                      "lastUpdate": now_rfc3339()}}
        self.store.patch(TCPS, self.ns, self.name, patch)

    def seed(self):
        with self.lock:
            self.ca = self.pki.ca("kubernetes", ["kamaji"])
            self.ca_fp = cert_sha256(self.ca[0])
            self.front_proxy_ca = self.pki.ca("front-proxy-ca")
            self.fp_fp = cert_sha256(self.front_proxy_ca[0])
            self.put_secret("ca", self.ca_data())
            for suffix in self.managed[1:]:
                self.put_secret(suffix, self.make_leaf(suffix))
            self.store.create(TCPS, self.ns, {
                "apiVersion": TCPS.api_version, "kind": TCPS.kind,
                "metadata": {"name": self.name, "namespace": self.ns},
                "spec": {"dataStore": "default",
                         "controlPlane": {"deployment": {"replicas": 2}},
                         "kubernetes": {"version": "v1.33.1"}},
                "status": {"kubernetesResources": {"version": {"version": "v1.33.1", "status": "Ready"}},
                           "controlPlaneEndpoint": self.tenant_url().replace("https://", ""),
                           "certificates": {"ca": {"secretName": self.sname("ca"),
                                                   "checksum": self.ca_fp[:32],
                                                   "lastUpdate": now_rfc3339()}}}})
            for rs in self.replicasets:
                for _ in range(rs["count"]):
                    self.new_pod(rs, ready_now=True)

    # -- pods
    def new_pod(self, rs, ready_now=False):
        name = rs["prefix"] + rand_suffix()
        ts = now_rfc3339()
        ready = "True" if ready_now else "False"
        if rs.get("vm"):
            owner = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                     "name": rs["labels"]["kubevirt.io/vm"], "uid": str(uuid.uuid4()),
                     "controller": True, "blockOwnerDeletion": True}
        else:
            owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                     "name": rs["prefix"].rstrip("-"), "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, rs["prefix"])),
                     "controller": True, "blockOwnerDeletion": True}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": rs["ns"], "labels": dict(rs["labels"]),
                            "generateName": rs["prefix"], "ownerReferences": [owner]},
               "spec": {"nodeName": "node-1", "containers": [{"name": "compute" if rs.get("vm") else "main",
                                                              "image": "registry.example/%s:v1" % rs["prefix"].split("-")[0]}]},
               "status": {"phase": "Running" if ready_now else "Pending", "startTime": ts,
                          "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
                                         {"type": "Initialized", "status": "True", "lastTransitionTime": ts},
                                         {"type": "ContainersReady", "status": ready, "lastTransitionTime": ts},
                                         {"type": "Ready", "status": ready, "lastTransitionTime": ts}]}}
        self.store.create(PODS, rs["ns"], pod)
        if not ready_now:
            self.ready_at[(rs["ns"], name)] = time.monotonic() + self.args.pod_ready_delay

    def reconcile_pods(self):
        now = time.monotonic()
        for rs in self.replicasets:
            items, _ = self.store.list(PODS, rs["ns"], [(k, "=", [v]) for k, v in rs["labels"].items()], [])
            live = [p for p in items if "deletionTimestamp" not in p["metadata"]]
            for _ in range(rs["count"] - len(live)):
                self.new_pod(rs)
        for (ns, name), when in list(self.ready_at.items()):
            if when > now:
                continue
            if self.store_pod_never_ready(name):
                continue
            del self.ready_at[(ns, name)]
            ts = now_rfc3339()
            try:
                pod = self.store.get(PODS, ns, name)
            except ApiError:
                continue
            conds = [c for c in pod["status"]["conditions"] if c["type"] not in ("Ready", "ContainersReady")]
            conds += [{"type": "ContainersReady", "status": "True", "lastTransitionTime": ts},
                      {"type": "Ready", "status": "True", "lastTransitionTime": ts}]
            try:
                self.store.patch(PODS, ns, name, {"status": {"phase": "Running", "conditions": conds}})
            except ApiError:
                pass

    def store_pod_never_ready(self, name):
        return self.cluster_faults is not None and self.cluster_faults.pod_never_ready(name)

    def fault(self, name):
        if self.cluster_faults is None:
            return None
        with self.cluster_faults.flock:
            return self.cluster_faults.faults.get(name)

    cluster_faults = None

    def restart_vms(self):
        for rs in self.replicasets:
            if not rs["restart"]:
                continue
            items, _ = self.store.list(PODS, rs["ns"], [(k, "=", [v]) for k, v in rs["labels"].items()], [])
            for p in items:
                try:
                    self.store.delete(PODS, rs["ns"], p["metadata"]["name"])
                except ApiError:
                    pass

    # -- secrets
    def needs(self):
        """What must be regenerated: (new_ca_reason, adopt, new_fp_ca, [suffixes])."""
        sec = self.read_secret("ca")
        new_ca = None
        adopt = None
        if sec is None:
            new_ca = "missing"
        elif rotation_requested(sec):
            new_ca = "annotation"
        else:
            g = self.generated.get(sec["metadata"]["name"])
            if g is None or g[1] != sec["metadata"]["resourceVersion"]:
                crt = base64.b64decode((sec.get("data") or {}).get("ca.crt", ""))
                try:
                    first = load_pem_certs(crt)[:1]
                except Exception:
                    first = []
                if not first or cert_sha256(first[0]) != self.ca_fp:
                    adopt = sec
        fps = self.read_secret("front-proxy-ca-certificate")
        new_fp = fps is None or rotation_requested(fps)
        todo = []
        for suffix in self.managed[1:]:
            s = self.read_secret(suffix)
            if s is None or rotation_requested(s):
                todo.append(suffix)
                continue
            g = self.generated.get(s["metadata"]["name"])
            if g is None or g[0] != s["metadata"]["uid"]:
                todo.append(suffix)
            elif suffix in CA_SIGNED and g[2] != self.ca_fp:
                todo.append(suffix)
            elif suffix == "front-proxy-client-certificate" and g[3] != self.fp_fp:
                todo.append(suffix)
        return new_ca, adopt, new_fp, todo

    def tick(self):
        self.store.housekeeping()
        with self.lock:
            try:
                tcp = self.store.get(TCPS, self.ns, self.name)
            except ApiError:
                return
            self.reconcile_pods()
            if self.vm_restart_at is not None and time.monotonic() >= self.vm_restart_at \
                    and not self.fault("hold_vm_restart"):
                self.vm_restart_at = None
                self.restart_vms()
            if PAUSED_ANN in (tcp["metadata"].get("annotations") or {}):
                return
            new_ca, adopt, new_fp, todo = self.needs()
            if not new_ca and adopt is None and not todo:
                self.pending_since = None
                cur = tcp.get("status", {}).get("kubernetesResources", {}).get("version", {}).get("status")
                if cur in ("Ready", "Sleeping", "WriteLimited") and cur != tcp_computed_status(tcp):
                    self.set_status("Ready")
                return
            now = time.monotonic()
            if self.pending_since is None:
                self.pending_since = now
                if new_ca or adopt is not None:
                    self.set_status("CertificateAuthorityRotating")
                return
            if now - self.pending_since < self.args.rotate_delay:
                return
            rotated = False
            if new_ca or adopt is not None:
                old = self.ca
                if adopt is not None and not new_ca:
                    try:
                        self.ca = self.adopt_ca(adopt)
                    except Exception as e:
                        log("cannot adopt %s: %s" % (self.sname("ca"), e))
                        md = adopt["metadata"]
                        self.generated[md["name"]] = (md["uid"], md["resourceVersion"], self.ca_fp, self.fp_fp)
                        self.set_status("Error")
                        self.pending_since = None
                        return
                    self.ca_fp = cert_sha256(self.ca[0])
                    md = adopt["metadata"]
                    self.generated[md["name"]] = (md["uid"], md["resourceVersion"], self.ca_fp, self.fp_fp)
                else:
                    self.ca = self.pki.ca("kubernetes", ["kamaji"])
                    self.ca_fp = cert_sha256(self.ca[0])
                    self.put_secret("ca", self.ca_data())
                if old is not None:
                    self.old_cas.append(old[0])
                self.rotations += 1
                rotated = True
                todo = sorted(set(todo) | (set(CA_SIGNED) & set(self.managed)))
            if new_fp:
                self.front_proxy_ca = self.pki.ca("front-proxy-ca")
                self.fp_fp = cert_sha256(self.front_proxy_ca[0])
                self.fp_rotations += 1
                todo = sorted(set(todo) | {"front-proxy-ca-certificate", "front-proxy-client-certificate"})
            # the front-proxy CA first, so the client is signed by the new one
            for suffix in sorted(todo, key=lambda x: x != "front-proxy-ca-certificate"):
                self.put_secret(suffix, self.make_leaf(suffix))
            self.pending_since = None
            self.set_status("Ready")
            if rotated:
                self.vm_restart_at = time.monotonic() + self.args.vm_restart_delay
                log("tenant CA rotated (%d), new CA sha256 %s" % (self.rotations, self.ca_fp))

    def run(self):
        while not STOP.is_set():
            try:
                self.tick()
            except Exception as e:
                log("reconciler error: %r" % e)
            time.sleep(0.05)

    def tenant_cas(self):
        sec = self.read_secret("ca")
        if sec is None:
            return []
        crt = base64.b64decode((sec.get("data") or {}).get("ca.crt", ""))
        try:
            cas = load_pem_certs(crt)[:1]
        except Exception:
            cas = []
        if self.fault("tenant_trusts_removed_ca"):
            # A broken tenant API server that still trusts every replaced CA.
            cas = cas + list(self.old_cas)
        return cas

    def state(self):
        with self.lock:
            try:
                tcp = self.store.get(TCPS, self.ns, self.name)
                st = tcp["status"]["kubernetesResources"]["version"]["status"]
            except (ApiError, KeyError):
                st = None
            vms = []
            for rs in self.replicasets:
                if not rs.get("vm"):
                    continue
                items, _ = self.store.list(PODS, rs["ns"], [(k, "=", [v]) for k, v in rs["labels"].items()], [])
                for p in items:
                    ready = any(c["type"] == "Ready" and c["status"] == "True"
                                for c in p["status"].get("conditions", []))
                    vms.append({"vm": rs["labels"]["kubevirt.io/vm"], "pod": p["metadata"]["name"],
                                "uid": p["metadata"]["uid"], "ready": ready,
                                "terminating": "deletionTimestamp" in p["metadata"]})
            return {"name": self.name, "namespace": self.ns, "ca_sha256": self.ca_fp,
                    "front_proxy_ca_sha256": self.fp_fp, "rotations": self.rotations,
                    "front_proxy_rotations": self.fp_rotations, "status": st, "vm_pods": vms}


class TenantServing:
    """SSLContext for the tenant API server from the current api-server Secret."""

    def __init__(self, kamaji, workdir):
        self.kamaji = kamaji
        self.workdir = workdir
        self.lock = threading.Lock()
        self.rv = None
        self.ctx = None

    def __call__(self):
        sec = self.kamaji.read_secret("api-server-certificate")
        with self.lock:
            if sec is not None and sec["metadata"]["resourceVersion"] != self.rv:
                d = sec["data"]
                try:
                    self.ctx = server_context(base64.b64decode(d["apiserver.crt"]),
                                              base64.b64decode(d["apiserver.key"]), self.workdir)
                    self.rv = sec["metadata"]["resourceVersion"]
                except Exception as e:
                    log("tenant serving certificate unusable: %r" % e)
            return self.ctx


# --------------------------------------------------------------------------
# Control port

class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj, indent=1).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_ctl("GET")

    def do_POST(self):
        self.handle_ctl("POST")

    def do_DELETE(self):
        self.handle_ctl("DELETE")

    def handle_ctl(self, method):
        d = self.server.double
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if not pysecrets.compare_digest(self.headers.get("Authorization", ""),
                                        "Bearer " + d.control_token):
            self.reply(401, {"error": "control token required"})
            return
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        cluster = d.tenant_cluster if q.get("cluster") == "tenant" and d.tenant_cluster else d.cluster
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            self.reply(400, {"error": "bad JSON"})
            return
        path = url.path.rstrip("/")
        if path == "/violations" and method == "GET":
            with d.oracle.lock:
                self.reply(200, {"violations": list(d.oracle.violations)})
        elif path == "/violations" and method == "DELETE":
            with d.oracle.lock:
                d.oracle.violations.clear()
            self.reply(200, {})
        elif path == "/requests" and method == "GET":
            with cluster.reqlock:
                self.reply(200, {"requests": list(cluster.requests)})
        elif path == "/requests" and method == "DELETE":
            with cluster.reqlock:
                cluster.requests.clear()
            self.reply(200, {})
        elif path == "/faults" and method == "GET":
            with cluster.flock:
                self.reply(200, cluster.faults)
        elif path == "/faults" and method == "POST":
            with cluster.flock:
                cluster.faults = req
            self.reply(200, req)
        elif path == "/client-cas" and method == "POST":
            try:
                cas = load_pem_certs((req.get("pems") or "").encode())
            except Exception as e:
                self.reply(400, {"error": "bad PEM: %s" % e})
                return
            with d.mgmt_cas.lock:
                d.mgmt_cas.runtime = cas
                if "issuing" in req:
                    d.mgmt_cas.use_issuing = bool(req["issuing"])
            self.reply(200, {"count": len(cas)})
        elif path == "/client-cas" and method == "GET":
            self.reply(200, {"sha256": [cert_sha256(c) for c in d.mgmt_cas()]})
        elif path == "/apiservers" and method == "GET":
            self.reply(200, {"apiservers": [a.state() for a in d.apiservers]})
        elif path == "/apiserver" and method == "POST":
            p = dict(q)
            if isinstance(req, dict):
                p.update(req)
            a = next((x for x in d.apiservers if x.name == p.get("name")), None)
            if a is None:
                self.reply(404, {"error": "no apiserver %r" % p.get("name")})
                return
            if "down" in p:
                down = str(p["down"]).lower() in ("1", "true", "yes", "on")
                try:
                    a.set_down(down)
                except OSError as e:
                    self.reply(409, {"error": "cannot listen on port %d again: %s" % (a.port, e)})
                    return
            self.reply(200, a.state())
        elif path == "/auth" and method == "GET":
            self.reply(200, {"anonymous": cluster.anonymous,
                             "drop_untrusted_client_certs": cluster.drop_untrusted})
        elif path == "/auth" and method == "POST":
            if not isinstance(req, dict):
                self.reply(400, {"error": "expected a JSON object"})
                return
            if "anonymous" in req:
                cluster.anonymous = bool(req["anonymous"])
            if "drop_untrusted_client_certs" in req:
                cluster.drop_untrusted = bool(req["drop_untrusted_client_certs"])
            self.reply(200, {"anonymous": cluster.anonymous,
                             "drop_untrusted_client_certs": cluster.drop_untrusted})
        elif path == "/compact" and method == "POST":
            self.reply(200, {"compacted": cluster.store.compact()})
        elif path == "/tenant" and method == "GET":
            if d.kamaji is None:
                self.reply(404, {"error": "no Kamaji tenant"})
            else:
                self.reply(200, d.kamaji.state())
        else:
            self.reply(404, {"error": "unknown control endpoint"})


class ControlServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, double):
        self.double = double
        super().__init__(("127.0.0.1", 0), ControlHandler)


# --------------------------------------------------------------------------

class Double:
    def __init__(self, args):
        self.args = args
        os.makedirs(args.dir, exist_ok=True)
        self.pki = PKI(args.key_type)
        self.oracle = Oracle(self.pki)
        if args.issuing_ca_cert:
            with open(args.issuing_ca_cert, "rb") as f:
                ica = load_pem_certs(f.read())[0]
            with open(args.issuing_ca_key, "rb") as f:
                ikey = serialization.load_pem_private_key(
                    f.read().replace(b"ED25519 PRIVATE KEY", b"PRIVATE KEY"), None)
            self.pki.remember(ikey)
            self.issuing = (ica, ikey)
        else:
            self.issuing = self.pki.ca("kubernetes")
        self.serving = self.pki.leaf(self.issuing, "kube-apiserver", server=True,
                                     ips=["127.0.0.1", "10.96.0.1"],
                                     dns=["localhost", "kubernetes", "kubernetes.default",
                                          "kubernetes.default.svc",
                                          "kubernetes.default.svc.cluster.local"])
        self.admin = self.pki.leaf(self.issuing, "kubernetes-admin", ["system:masters"], client=True)
        self.token = pysecrets.token_urlsafe(32)
        self.control_token = pysecrets.token_urlsafe(24)
        self.store = Store(args.pod_grace)
        self.mgmt_cas = ManagementCAs(self.issuing[0], args.client_ca_file)
        tokens = {self.token: {"name": "admin-token", "groups": ["system:masters", "system:authenticated"]}}
        self.cluster = Cluster("main", self.store, self.pki, self.oracle, self.mgmt_cas, tokens)
        self.cluster.anonymous = args.anonymous_auth
        self.cluster.drop_untrusted = args.drop_untrusted_client_certs
        ctx = server_context(cert_pem(self.serving[0]), key_pem(self.serving[1]), args.dir)
        self.serving_ctx_fn = lambda: ctx
        self.server = TLSServer(self.cluster, self.serving_ctx_fn, args.bookmark_interval)
        self.apiservers = [ApiServer(self, name, path) for name, path in args.apiserver]
        self.control = ControlServer(self)
        self.kamaji = None
        self.tenant_cluster = None
        self.tenant_server = None
        if args.kamaji_tenant:
            self.tenant_store = Store(args.pod_grace)
            self.kamaji = Kamaji(self.store, self.pki, args, self.tenant_url)
            self.kamaji.cluster_faults = self.cluster
            self.tenant_cluster = Cluster("tenant", self.tenant_store, self.pki, self.oracle,
                                          self.kamaji.tenant_cas, {})
            # bind first so the seeded kubeconfigs carry the port
            self.tenant_server = TLSServer(self.tenant_cluster, TenantServing(self.kamaji, args.dir),
                                           args.bookmark_interval)
            self.kamaji.seed()

    def tenant_url(self):
        return "https://127.0.0.1:%d" % self.tenant_server.server_address[1]

    def write_files(self):
        a = self.args
        port = self.server.server_address[1]
        url = "https://127.0.0.1:%d" % port
        ca = cert_pem(self.issuing[0])

        def wr(name, data, mode=0o644):
            path = os.path.join(a.dir, name)
            tmp = path + ".tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
            return path

        files = {
            "kubeconfig": wr("admin.kubeconfig", kubeconfig_yaml(
                "double", url, ca, "kubernetes-admin", cert_pem(self.admin[0]), key_pem(self.admin[1])), 0o600),
            "token_kubeconfig": wr("token.kubeconfig", kubeconfig_yaml(
                "double", url, ca, "admin-token", token=self.token), 0o600),
            "ca_file": wr("ca.crt", ca),
            "issuing_ca_cert": wr("issuing-ca.crt", ca),
            "issuing_ca_key": wr("issuing-ca.key", key_pem(self.issuing[1]), 0o600),
        }
        ready = dict(files, port=port, pid=os.getpid(), server=url, token=self.token,
                     control_port=self.control.server_address[1],
                     control_token=self.control_token,
                     apiservers=[a.info() for a in self.apiservers])
        if self.tenant_server:
            ready.update(tenant_port=self.tenant_server.server_address[1],
                         tenant_name=a.kamaji_tenant, tenant_namespace=a.tenant_namespace,
                         kamaji_namespace=a.kamaji_namespace)
        wr("ready.json", json.dumps(ready, indent=1).encode())

    def run(self):
        threads = [threading.Thread(target=self.server.serve_forever, daemon=True),
                   threading.Thread(target=self.control.serve_forever, daemon=True)]
        if self.tenant_server:
            threads.append(threading.Thread(target=self.tenant_server.serve_forever, daemon=True))
            threads.append(threading.Thread(target=self.kamaji.run, daemon=True))
        else:
            threads.append(threading.Thread(target=self.housekeeping, daemon=True))
        for t in threads:
            t.start()
        self.write_files()

    def housekeeping(self):
        while not STOP.is_set():
            self.store.housekeeping()
            time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description="Kubernetes API double for hsmca tests")
    p.add_argument("--dir", required=True)
    p.add_argument("--deadline", type=float, default=300)
    p.add_argument("--client-ca-file")
    p.add_argument("--issuing-ca-cert")
    p.add_argument("--issuing-ca-key")
    p.add_argument("--kamaji-tenant")
    p.add_argument("--tenant-namespace", default="tenant-root")
    p.add_argument("--kamaji-namespace", default="cozy-kamaji")
    p.add_argument("--rotate-delay", type=float, default=0.5)
    p.add_argument("--pod-ready-delay", type=float, default=0.5)
    p.add_argument("--pod-grace", type=float, default=0.2)
    p.add_argument("--vm-restart-delay", type=float, default=0.3)
    p.add_argument("--worker-vms", type=int, default=2)
    p.add_argument("--vm-cluster-label")
    p.add_argument("--no-konnectivity", action="store_true")
    p.add_argument("--bookmark-interval", type=float, default=1.0)
    p.add_argument("--key-type", choices=["ec", "rsa"], default="ec")
    p.add_argument("--apiserver", action="append", default=[], metavar="NAME=CLIENT_CA_FILE")
    p.add_argument("--anonymous-auth", action="store_true")
    p.add_argument("--drop-untrusted-client-certs", action="store_true")
    args = p.parse_args()
    if bool(args.issuing_ca_cert) != bool(args.issuing_ca_key):
        p.error("--issuing-ca-cert and --issuing-ca-key go together")
    pairs = []
    for item in args.apiserver:
        name, sep, path = item.partition("=")
        if not sep or not path or not re.match(r"^[a-z0-9][a-z0-9.-]*$", name) \
                or name in [n for n, _ in pairs]:
            p.error("bad --apiserver %r: NAME=CLIENT_CA_FILE, names unique" % item)
        pairs.append((name, os.path.abspath(path)))
    args.apiserver = pairs

    def stop(signum, frame):
        STOP.set()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    deadline = time.monotonic() + args.deadline
    double = Double(args)
    double.run()
    log("ready: api %d, control %d%s" % (
        double.server.server_address[1], double.control.server_address[1],
        ", tenant %d" % double.tenant_server.server_address[1] if double.tenant_server else ""))
    while time.monotonic() < deadline:
        time.sleep(0.2)
    log("deadline of %.0fs reached, exiting" % args.deadline)
    STOP.set()
    os._exit(2)


if __name__ == "__main__":
    main()
