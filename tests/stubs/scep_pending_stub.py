#!/usr/bin/env python3
"""A stub of a SCEP server (RFC 8894) that answers PENDING, for the tests only.

The real server the scep tests use (micromdm's scepserver) issues or refuses
at once: it never answers a PKCSReq with a PENDING CertRep, so it cannot
exercise GetCertInitial polling. This stub stands in for a CA that holds a
request for manual approval, following RFC 8894:

  GET  ?operation=GetCACaps        POSTPKIOperation, AES, SHA-256, SCEPStandard,
                                   Renewal (not with --no-renewal)
  GET  ?operation=GetCACert        the CA certificate (DER), or with --ra the CA
                                   and an RA certificate (certs-only PKCS#7)
  POST ?operation=PKIOperation     a pkiMessage (GET with message= as well)

A PKCSReq (messageType 19) is checked (signature by the signer certificate it
carries, messageDigest, the envelope opened with the CA's or the RA's key,
the challenge password) and answered PENDING; a wrong challenge password is a
FAILURE with failInfo badRequest and a failInfoText. A CertPoll (20,
GetCertInitial) names the transaction; the issuer and subject in its
IssuerAndSubject must match. The first --pending-polls polls are answered
PENDING again, the next one SUCCESS with a clientAuth certificate (signed by
the stub's CA) in an envelope for the poll's signer certificate. An unknown
transaction is a FAILURE with badCertId. PENDING and FAILURE answers carry no
content.

A RenewalReq (17, RFC 8894 3.3.1.2) is a PKCSReq signed with the certificate
being renewed, which must be one this stub's CA issued (the challenge
password is then optional); its polls must be signed with that same
certificate (else FAILURE badMessageCheck), and the SUCCESS envelope is for
it. With --wrong-key-cert the certificate issued is for the signer's key
instead of the CSR's (a hostile answer to a renewal). The requests live in DIR/requests.json, so a restarted client finds
them.

It is a stub, not a CA: a hand-written DER codec and python3-cryptography's
primitives (RSA PKCS#1 v1.5, AES-CBC), nothing more.

Usage: scep_pending_stub.py --dir DIR --port N --challenge-file FILE
                            [--pending-polls N] [--ra] [--get-only] [--no-renewal]
                            [--wrong-key-cert]
It listens on 127.0.0.1 and logs each operation to DIR/requests.log (never a
message's content); a message it cannot read is kept in DIR/bad-message.der
for debugging (it is encrypted to the stub's key).
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import secrets
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding as sympad, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

lock = threading.Lock()

# OIDs
DATA = "1.2.840.113549.1.7.1"
SIGNED = "1.2.840.113549.1.7.2"
ENVELOPED = "1.2.840.113549.1.7.3"
RSA_ENC = "1.2.840.113549.1.1.1"
SHA256 = "2.16.840.1.101.3.4.2.1"
AES128_CBC = "2.16.840.1.101.3.4.1.2"
AES256_CBC = "2.16.840.1.101.3.4.1.42"
CONTENT_TYPE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
CHALLENGE = "1.2.840.113549.1.9.7"
MESSAGE_TYPE = "2.16.840.1.113733.1.9.2"
PKI_STATUS = "2.16.840.1.113733.1.9.3"
FAIL_INFO = "2.16.840.1.113733.1.9.4"
SENDER_NONCE = "2.16.840.1.113733.1.9.5"
RECIPIENT_NONCE = "2.16.840.1.113733.1.9.6"
TRANSACTION_ID = "2.16.840.1.113733.1.9.7"
FAIL_INFO_TEXT = "1.3.6.1.5.5.7.24.1"


# --- DER, the little that SCEP needs -------------------------------------

def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + length + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    return tlv(0x31, b"".join(sorted(items)))


def oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def integer(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, "big", signed=True)
    return tlv(0x02, b)


def octets(b):
    return tlv(0x04, b)


def printable(s):
    return tlv(0x13, s.encode())


def explicit(n, content):
    return tlv(0xA0 | n, content)


def read(data, pos=0):
    """(tag, start of content, end of content) of the TLV at pos."""
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + n


def children(data, start, end):
    out = []
    while start < end:
        tag, s, e = read(data, start)
        out.append((tag, s, e, data[start:e]))
        start = e
    return out


def decode_oid(b):
    parts = [b[0] // 40, b[0] % 40]
    v = 0
    for c in b[1:]:
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            parts.append(v)
            v = 0
    return ".".join(str(p) for p in parts)


def content_info(der, want):
    """The content range of the SEQUENCE inside ContentInfo's [0] EXPLICIT."""
    _, s, e = read(der)
    kids = children(der, s, e)
    if decode_oid(der[kids[0][1]:kids[0][2]]) != want:
        raise ValueError("not a " + want)
    _, s2, e2 = read(der, kids[1][1])  # [0] EXPLICIT
    return der, s2, e2


# --- the stub's CA ----------------------------------------------------------

def now():
    return datetime.datetime.now(datetime.timezone.utc)


def load_or_make(d):
    def make(name, issuer_key=None, issuer_name=None, ca=True):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SCEP stub"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(issuer_name or subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now() - datetime.timedelta(hours=1))
             .not_valid_after(now() + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                              False, False), critical=True)
        else:
            b = b.add_extension(x509.KeyUsage(True, False, True, False, False, False, False,
                                              False, False), critical=True)
        cert = b.sign(issuer_key or key, hashes.SHA256())
        return key, cert

    paths = {n: os.path.join(d, n) for n in ("ca.key", "ca.pem", "ra.key", "ra.pem")}
    if not os.path.exists(paths["ra.pem"]):
        ca_key, ca_cert = make("SCEP stub CA")
        ra_key, ra_cert = make("SCEP stub RA", ca_key, ca_cert.subject, ca=False)
        for (k, c, kp, cp) in ((ca_key, ca_cert, "ca.key", "ca.pem"),
                               (ra_key, ra_cert, "ra.key", "ra.pem")):
            with open(paths[kp], "wb") as f:
                f.write(k.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
            with open(paths[cp], "wb") as f:
                f.write(c.public_bytes(serialization.Encoding.PEM))
    load_key = lambda p: serialization.load_pem_private_key(open(p, "rb").read(), None)
    load_cert = lambda p: x509.load_pem_x509_certificate(open(p, "rb").read())
    return (load_key(paths["ca.key"]), load_cert(paths["ca.pem"]),
            load_key(paths["ra.key"]), load_cert(paths["ra.pem"]))


class Stub:
    def __init__(self, args):
        self.dir = args.dir
        self.challenge = open(args.challenge_file).read().rstrip("\r\n")
        self.pending_polls = args.pending_polls
        self.ra = args.ra
        self.get_only = args.get_only
        self.no_renewal = args.no_renewal
        self.wrong_key_cert = args.wrong_key_cert
        self.ca_key, self.ca_cert, self.ra_key, self.ra_cert = load_or_make(args.dir)
        self.db = os.path.join(args.dir, "requests.json")

    # the certificate that opens requests and signs answers
    def agent(self):
        return (self.ra_key, self.ra_cert) if self.ra else (self.ca_key, self.ca_cert)

    def load(self):
        try:
            return json.load(open(self.db))
        except FileNotFoundError:
            return {}

    def save(self, db):
        with open(self.db + ".tmp", "w") as f:
            json.dump(db, f)
        os.replace(self.db + ".tmp", self.db)

    def caps(self):
        caps = ["AES", "SHA-256"] + ([] if self.no_renewal else ["Renewal"])
        if not self.get_only:
            caps += ["POSTPKIOperation", "SCEPStandard"]
        return "\n".join(caps).encode()

    def ca_certs(self):
        if not self.ra:
            return "application/x-x509-ca-cert", self.ca_cert.public_bytes(
                serialization.Encoding.DER)
        return "application/x-x509-ca-ra-cert", certs_only([self.ca_cert, self.ra_cert])

    # --- requests -----------------------------------------------------------

    def parse_request(self, der):
        """Signed attributes, the signer certificate, the envelope's content."""
        _, s, e = content_info(der, SIGNED)
        kids = children(der, s, e)
        encap = children(der, kids[2][1], kids[2][2])
        _, os_s, os_e = read(der, encap[1][1])
        econtent = der[os_s:os_e]
        certs = [x509.load_der_x509_certificate(c[3])
                 for c in children(der, kids[3][1], kids[3][2])] if kids[3][0] == 0xA0 else []
        si = children(der, kids[-1][1], kids[-1][2])[0]
        si_kids = children(der, si[1], si[2])
        attrs_raw = si_kids[3][3]
        signature = der[si_kids[5][1]:si_kids[5][2]]
        attrs = {}
        for a in children(der, si_kids[3][1], si_kids[3][2]):
            ak = children(der, a[1], a[2])
            vals = children(der, ak[1][1], ak[1][2])
            attrs[decode_oid(der[ak[0][1]:ak[0][2]])] = der[vals[0][1]:vals[0][2]]
        if len(certs) != 1:
            raise ValueError("expected the signer's certificate alone")
        signer = certs[0]
        signer.public_key().verify(signature, b"\x31" + attrs_raw[1:], padding.PKCS1v15(),
                                   hashes.SHA256())
        if attrs.get(MESSAGE_DIGEST) != hashlib.sha256(econtent).digest():
            raise ValueError("messageDigest mismatch")
        return attrs, signer, self.open_envelope(econtent)

    def open_envelope(self, der):
        _, s, e = content_info(der, ENVELOPED)
        kids = children(der, s, e)
        ri = children(der, kids[1][1], kids[1][2])[0]
        ri_kids = children(der, ri[1], ri[2])
        enc_key = der[ri_kids[3][1]:ri_kids[3][2]]
        eci = children(der, kids[2][1], kids[2][2])
        alg = children(der, eci[1][1], eci[1][2])
        alg_oid = decode_oid(der[alg[0][1]:alg[0][2]])
        iv = der[alg[1][1]:alg[1][2]]
        if alg_oid not in (AES128_CBC, AES256_CBC):
            raise ValueError("unsupported content encryption " + alg_oid)
        if eci[2][0] == 0x80:
            ct = der[eci[2][1]:eci[2][2]]
        else:
            ct = b"".join(der[c[1]:c[2]] for c in children(der, eci[2][1], eci[2][2]))
        key = self.agent()[0].decrypt(enc_key, padding.PKCS1v15())
        d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = d.update(ct) + d.finalize()
        u = sympad.PKCS7(128).unpadder()
        return u.update(padded) + u.finalize()

    def handle(self, der):
        attrs, signer, inner = self.parse_request(der)
        mtype = attrs[MESSAGE_TYPE].decode()
        tid = attrs[TRANSACTION_ID].decode()
        nonce = attrs[SENDER_NONCE]
        with lock:
            db = self.load()
            renewed = self.issued_here(signer)
            if mtype == "19":
                status, info, text, cert = self.pkcsreq(db, tid, inner)
            elif mtype == "17" and not self.no_renewal and renewed:
                status, info, text, cert = self.pkcsreq(db, tid, inner, signer)
            elif mtype == "17":
                status, info, text, cert = "2", "1", "the signer is not a certificate of this CA", None
            elif mtype == "20":
                status, info, text, cert = self.certpoll(db, tid, inner, signer)
            else:
                status, info, text, cert = "2", "2", "message type not supported", None
            self.save(db)
        log(self.dir, "PKIOperation type=%s status=%s signer=%s" %
            (mtype, status, "issued-by-ca" if renewed else "self-signed"))
        return self.certrep(tid, nonce, status, info, text, cert, signer)

    def issued_here(self, cert):
        """Whether cert is one of this stub's CA's, and valid now."""
        try:
            self.ca_cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                             padding.PKCS1v15(), cert.signature_hash_algorithm)
        except Exception:
            return False
        # python3-cryptography before 42 (Debian 12's 38) has the naive UTC dates only.
        before = getattr(cert, "not_valid_before_utc", None) or \
            cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)
        after = getattr(cert, "not_valid_after_utc", None) or \
            cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
        return cert.issuer == self.ca_cert.subject and before <= now() <= after

    def pkcsreq(self, db, tid, csr_der, renewed=None):
        """A PKCSReq, or with renewed (the certificate that signed it) a RenewalReq."""
        csr = x509.load_der_x509_csr(csr_der)
        pw = None
        for a in csr.attributes:
            if a.oid.dotted_string == CHALLENGE:
                pw = a.value.decode()
        if not csr.is_signature_valid:
            return "2", "1", "the CSR's signature does not verify", None
        if pw != self.challenge and (renewed is None or pw is not None):
            return "2", "2", "challenge password not accepted", None
        if tid not in db:
            db[tid] = {"csr": csr_der.hex(), "polls": 0,
                       "subject": csr.subject.public_bytes().hex()}
            if renewed is not None:
                db[tid]["renewed"] = renewed.public_bytes(serialization.Encoding.DER).hex()
        return "3", None, None, None

    def certpoll(self, db, tid, ias, signer):
        r = db.get(tid)
        _, s, e = read(ias)
        issuer, subject = [c[3] for c in children(ias, s, e)]
        if r is None:
            return "2", "4", "no request with this transactionID", None
        if "renewed" in r and \
                signer.public_bytes(serialization.Encoding.DER).hex() != r["renewed"]:
            return "2", "1", "a renewal's poll must be signed by the renewed certificate", None
        if issuer != self.ca_cert.subject.public_bytes() or subject.hex() != r["subject"]:
            return "2", "4", "issuer and subject do not match the request", None
        r["polls"] += 1
        if r["polls"] <= self.pending_polls:
            return "3", None, None, None
        if "cert" not in r:
            r["cert"] = self.issue(x509.load_der_x509_csr(bytes.fromhex(r["csr"])),
                                   signer.public_key() if self.wrong_key_cert else None)
        return "0", None, None, x509.load_der_x509_certificate(bytes.fromhex(r["cert"]))

    def issue(self, csr, key=None):
        b = (x509.CertificateBuilder().subject_name(csr.subject)
             .issuer_name(self.ca_cert.subject).public_key(key or csr.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now() - datetime.timedelta(minutes=10))
             .not_valid_after(now() + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                          False, False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                            critical=False))
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            b = b.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        return b.sign(self.ca_key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER).hex()

    # --- answers ------------------------------------------------------------

    def certrep(self, tid, nonce, status, info, text, cert, recipient):
        key, me = self.agent()
        econtent = envelope(certs_only([cert]), recipient) if cert is not None else None
        attrs = [
            seq(oid(CONTENT_TYPE), set_of(oid(DATA))),
            seq(oid(MESSAGE_DIGEST),
                set_of(octets(hashlib.sha256(econtent or b"").digest()))),
            seq(oid(MESSAGE_TYPE), set_of(printable("3"))),
            seq(oid(PKI_STATUS), set_of(printable(status))),
            seq(oid(TRANSACTION_ID), set_of(printable(tid))),
            seq(oid(RECIPIENT_NONCE), set_of(octets(nonce))),
            seq(oid(SENDER_NONCE), set_of(octets(secrets.token_bytes(16)))),
        ]
        if info is not None:
            attrs.append(seq(oid(FAIL_INFO), set_of(printable(info))))
        if text is not None:
            attrs.append(seq(oid(FAIL_INFO_TEXT), set_of(tlv(0x0C, text.encode()))))
        signed = set_of(*attrs)
        sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        alg = seq(oid(SHA256), tlv(0x05, b""))
        si = seq(integer(1), issuer_and_serial(me), alg, b"\xA0" + signed[1:],
                 seq(oid(RSA_ENC), tlv(0x05, b"")), octets(sig))
        encap = seq(oid(DATA), explicit(0, octets(econtent))) if econtent else seq(oid(DATA))
        sd = seq(integer(1), set_of(alg), encap,
                 tlv(0xA0, me.public_bytes(serialization.Encoding.DER)), set_of(si))
        return seq(oid(SIGNED), explicit(0, sd))


def issuer_and_serial(cert):
    return seq(cert.issuer.public_bytes(), integer(cert.serial_number))


def certs_only(certs):
    sd = seq(integer(1), set_of(), seq(oid(DATA)),
             tlv(0xA0, b"".join(c.public_bytes(serialization.Encoding.DER) for c in certs)),
             set_of())
    return seq(oid(SIGNED), explicit(0, sd))


def envelope(content, recipient):
    key, iv = secrets.token_bytes(16), secrets.token_bytes(16)
    p = sympad.PKCS7(128).padder()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = e.update(p.update(content) + p.finalize()) + e.finalize()
    ri = seq(integer(0), issuer_and_serial(recipient), seq(oid(RSA_ENC), tlv(0x05, b"")),
             octets(recipient.public_key().encrypt(key, padding.PKCS1v15())))
    eci = seq(oid(DATA), seq(oid(AES128_CBC), octets(iv)), tlv(0x80, ct))
    return seq(oid(ENVELOPED), explicit(0, seq(integer(0), set_of(ri), eci)))


def log(d, line):
    with lock, open(os.path.join(d, "requests.log"), "a") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    stub = None

    def log_message(self, *a):
        pass

    def reply(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def op(self, body):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        op = q.get("operation", [""])[0]
        st = self.stub
        try:
            if op == "GetCACaps":
                log(st.dir, "GetCACaps")
                return self.reply(200, "text/plain", st.caps())
            if op == "GetCACert":
                log(st.dir, "GetCACert")
                return self.reply(200, *st.ca_certs())
            if op == "PKIOperation":
                if body is None:
                    body = base64.b64decode(q.get("message", [""])[0])
                    log(st.dir, "PKIOperation by GET")
                elif st.get_only:
                    return self.reply(405, "text/plain", b"POST not offered")
                return self.reply(200, "application/x-pki-message", st.handle(body))
            return self.reply(400, "text/plain", b"unknown operation")
        except Exception as ex:  # a malformed message: say so, as a CA would
            log(st.dir, "error: %s" % ex)
            if body:
                with open(os.path.join(st.dir, "bad-message.der"), "wb") as f:
                    f.write(body)
            return self.reply(500, "text/plain", ("bad message: %s" % ex).encode())

    def do_GET(self):
        self.op(None)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.op(self.rfile.read(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--challenge-file", required=True)
    ap.add_argument("--pending-polls", type=int, default=1)
    ap.add_argument("--ra", action="store_true")
    ap.add_argument("--get-only", action="store_true")
    ap.add_argument("--no-renewal", action="store_true")
    ap.add_argument("--wrong-key-cert", action="store_true")
    args = ap.parse_args()
    Handler.stub = Stub(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    sys.stdout.flush()
    srv.serve_forever()


if __name__ == "__main__":
    main()
