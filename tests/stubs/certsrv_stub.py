#!/usr/bin/env python3
"""A stub of Microsoft AD CS web enrollment (certsrv), for the tests only.

No AD CS server exists outside Windows, so this stands in for the pages of
the "Certification Authority Web Enrollment" role that p11enroll's certsrv
backend uses, as Microsoft documents them (learn.microsoft.com: "Certificate
Services web enrollment", the certsrv pages certfnsh.asp, certnew.cer,
certnew.p7b and certcarc.asp; the request disposition values of
ICertRequest::Submit, "Taken Under Submission" for a pending request):

  POST /certsrv/certfnsh.asp   form Mode=newreq, CertRequest (PEM PKCS#10),
                               CertAttrib ("CertificateTemplate:NAME\\r\\n...")
      issued:  a page linking certnew.cer?ReqID=N&amp;Enc=b64
      pending: the "Certificate Pending" page, "Your Request Id is N."
      denied:  "Certificate Request Denied", 'The disposition message is "..."'
  GET  /certsrv/certnew.cer?ReqID=N&Enc=b64   application/pkix-cert (PEM) when
                               issued, else a page "Disposition message: TEXT"
  GET  /certsrv/certcarc.asp   the CA page, "var nRenewals=0;"
  GET  /certsrv/certnew.p7b?ReqID=CACert&Renewal=0&Enc=b64   certs-only PKCS#7

Authentication: Basic, or with --ntlm NTLM (MS-NLMP): a CHALLENGE_MESSAGE
with a random server challenge and target information, and the
AUTHENTICATE_MESSAGE's NTLMv2 response checked against the password (MD4 is
written out here: Debian's OpenSSL 3 has it only in the legacy provider).
One connection is authenticated at a time, as IIS does for NTLM.

What it cannot prove: the exact wording and markup of a real server's pages
(localised servers, other Windows versions), Negotiate (Kerberos), NTLM
against a domain controller, templates' real policy (it copies the CSR's
subject and SANs and adds the template's extended key usage).

Issued certificates are real: signed by an issuing CA under a root
(python3-cryptography). It listens on 127.0.0.1 with TLS (its server
certificate under the same root: DIR/root.pem is the test's ca_bundle).

DIR/mode.json, read on every request, says how to behave:
  {"pending_polls": N}    a new request is pending for N certnew.cer looks
  {"deny": "why"}         a new request is denied with this message
  {"fail_next": N}        the next N requests answer HTTP 500
  {"drop_after_accept": true}  a request is recorded, then the connection
                          is closed without an answer (a lost answer)
  {"delay": S}            a request is recorded, then answered S seconds later
  {"garbage": true}       certfnsh.asp answers an unrelated page
  {"cert_ctype": "T"}     certnew.cer answers with this Content-Type
  {"truncate_cert": true} certnew.cer's certificate is cut in half
  {"huge": true}          every answer is 5 MB
Requests are kept in DIR/requests.json; each is logged to DIR/requests.log
(method, path, status, the request attributes; never a header).

Usage: certsrv_stub.py --dir DIR --user U --password-file F [--templates T,..] [--ntlm]
"""
import argparse
import base64
import hmac
import struct
import datetime
import ipaddress
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

lock = threading.Lock()


def md4(data):
    """MD4 (RFC 1320), for the NT hash."""
    def f(x, y, z): return (x & y) | (~x & z)
    def g(x, y, z): return (x & y) | (x & z) | (y & z)
    def h(x, y, z): return x ^ y ^ z
    def rol(v, n): return ((v << n) | (v >> (32 - n))) & 0xffffffff
    msg = data + b"\x80" + b"\0" * ((55 - len(data)) % 64) + struct.pack("<Q", len(data) * 8)
    a, b, c, d = 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476
    for i in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[i:i + 64])
        aa, bb, cc, dd = a, b, c, d
        for k in range(16):
            a, b, c, d = d, rol((a + f(b, c, d) + x[k]) & 0xffffffff, (3, 7, 11, 19)[k % 4]), b, c
        for k in range(16):
            j = (k % 4) * 4 + k // 4
            a, b, c, d = d, rol((a + g(b, c, d) + x[j] + 0x5a827999) & 0xffffffff,
                                (3, 5, 9, 13)[k % 4]), b, c
        for k in range(16):
            j = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[k]
            a, b, c, d = d, rol((a + h(b, c, d) + x[j] + 0x6ed9eba1) & 0xffffffff,
                                (3, 9, 11, 15)[k % 4]), b, c
        a, b, c, d = [(v + w) & 0xffffffff for v, w in ((a, aa), (b, bb), (c, cc), (d, dd))]
    return struct.pack("<4I", a, b, c, d)


def ntlm_challenge(challenge):
    """A CHALLENGE_MESSAGE: NTLM, Unicode, target info (so NTLMv2 is used)."""
    target = "EXAMPLE".encode("utf-16-le")
    info = (struct.pack("<HH", 2, len(target)) + target + struct.pack("<HH", 0, 0))
    flags = 0x00000001 | 0x00000200 | 0x00800000 | 0x00010000 | 0x00080000
    head = 48
    return (b"NTLMSSP\0" + struct.pack("<I", 2) + struct.pack("<HHI", len(target), len(target), head)
            + struct.pack("<I", flags) + challenge + b"\0" * 8
            + struct.pack("<HHI", len(info), len(info), head + len(target)) + target + info)


def ntlm_check(msg, challenge, user, password):
    """Whether an AUTHENTICATE_MESSAGE proves user's password (NTLMv2)."""
    if len(msg) < 64 or msg[:8] != b"NTLMSSP\0" or struct.unpack("<I", msg[8:12])[0] != 3:
        return False
    def field(off):
        n, _, o = struct.unpack("<HHI", msg[off:off + 8])
        return msg[o:o + n]
    nt, domain, name = field(20), field(28), field(36)
    try:
        domain, name = domain.decode("utf-16-le"), name.decode("utf-16-le")
    except UnicodeDecodeError:
        return False
    want_domain, _, want_name = user.rpartition("\\")
    if name.upper() != want_name.upper() or len(nt) <= 16:
        return False
    v2 = hmac.new(md4(password.encode("utf-16-le")),
                  (name.upper() + domain).encode("utf-16-le"), "md5").digest()
    proof = hmac.new(v2, challenge + nt[16:], "md5").digest()
    return hmac.compare_digest(proof, nt[:16]) and domain.upper() == want_domain.upper()


EKUS = {
    "User": [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION],
    "SmartcardLogon": [ExtendedKeyUsageOID.CLIENT_AUTH,
                       x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")],
    "WebServer": [ExtendedKeyUsageOID.SERVER_AUTH],
}


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def make_ca(d):
    """A root, an issuing CA and the TLS certificate, made once and kept in
    DIR so that a restarted stub is the same CA."""
    names = ["root", "issuing", "tls"]
    if all(os.path.exists(os.path.join(d, n + ".key")) for n in names):
        loaded = []
        for n in names:
            with open(os.path.join(d, n + ".key"), "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
            with open(os.path.join(d, n + ".pem"), "rb") as f:
                cert = x509.load_pem_x509_certificate(f.read())
            loaded.append((key, cert))
        return loaded[0][1], loaded[1][1], loaded[1][0]

    def make(name, issuer_key, issuer, ca=True, san=None):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        b = (x509.CertificateBuilder().subject_name(subject)
             .issuer_name(subject if issuer is None else issuer.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now() - datetime.timedelta(days=1))
             .not_valid_after(now() + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False))
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                              False, False), critical=True)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if issuer is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
        return key, b.sign(key if issuer_key is None else issuer_key, hashes.SHA256())

    root_key, root = make("certsrv Stub Root CA", None, None)
    int_key, inter = make("certsrv Stub Issuing CA", root_key, root)
    tls_key, tls = make("127.0.0.1", int_key, inter, ca=False,
                        san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()
    write_atomic(os.path.join(d, "root.pem"), pem(root))
    write_atomic(os.path.join(d, "issuing.pem"), pem(inter))
    write_atomic(os.path.join(d, "tls.pem"), pem(tls) + pem(inter))
    for n, k in (("root", root_key), ("issuing", int_key), ("tls", tls_key)):
        write_atomic(os.path.join(d, n + ".key"), k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode())
    return root, inter, int_key


class State:
    def __init__(self, args):
        self.dir = args.dir
        self.user = args.user
        with open(args.password_file) as f:
            self.password = f.read().strip()
        self.templates = args.templates.split(",")
        self.ntlm = args.ntlm
        self.root, self.inter, self.int_key = make_ca(args.dir)
        self.path = os.path.join(args.dir, "requests.json")
        if not os.path.exists(self.path):
            write_atomic(self.path, json.dumps({"next": 17, "requests": {}}))

    def mode(self):
        try:
            with open(os.path.join(self.dir, "mode.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def set_mode(self, m):
        write_atomic(os.path.join(self.dir, "mode.json"), json.dumps(m))

    def load(self):
        with open(self.path) as f:
            return json.load(f)

    def save(self, db):
        write_atomic(self.path, json.dumps(db, indent=1))

    def issue(self, csr_pem, template):
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        b = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.inter.subject)
             .public_key(csr.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now() - datetime.timedelta(minutes=5))
             .not_valid_after(now() + datetime.timedelta(days=365))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage(EKUS.get(template, EKUS["User"])),
                            critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 self.int_key.public_key()), critical=False))
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            b = b.add_extension(san.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        return b.sign(self.int_key, hashes.SHA256()).public_bytes(
            serialization.Encoding.PEM).decode()


PAGE = ("<HTML><Head><Title>Microsoft Active Directory Certificate Services</Title></Head>"
        "<Body><Font Face=\"Arial\"><B>Microsoft</B> Active Directory Certificate Services "
        "-- certsrv-stub</Font>\r\n%s\r\n</Body></HTML>\r\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self, status, extra=""):
        with open(os.path.join(S.dir, "requests.log"), "a") as f:
            f.write("%s %s %d %s\n" % (self.command, self.path, status, extra))

    def answer(self, status, body, ctype="text/html", headers=()):
        m = S.mode()
        if m.get("huge"):
            body = "x" * (5 * 1024 * 1024)
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for h in headers:
            self.send_header(*h)
        self.end_headers()
        self.wfile.write(data)
        self.log(status)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == S.user and pw == S.password
        return False

    def ntlm(self, auth):
        """True once this connection is authenticated; else answers 401
        (with the challenge after a NEGOTIATE_MESSAGE) and returns False."""
        if getattr(self.connection, "ntlm_ok", False):
            return True
        token = b""
        if auth.startswith("NTLM "):
            try:
                token = base64.b64decode(auth[5:])
            except ValueError:
                token = b""
        if token[:8] == b"NTLMSSP\0" and token[8:12] == struct.pack("<I", 1):
            self.connection.ntlm_challenge = os.urandom(8)
            self.answer(401, PAGE % "401.1 - Unauthorized", headers=[(
                "WWW-Authenticate", "NTLM " + base64.b64encode(
                    ntlm_challenge(self.connection.ntlm_challenge)).decode())])
            return False
        challenge = getattr(self.connection, "ntlm_challenge", None)
        if challenge is not None and ntlm_check(token, challenge, S.user, S.password):
            self.connection.ntlm_ok = True
            with open(os.path.join(S.dir, "requests.log"), "a") as f:
                f.write("NTLM authenticated %s\n" % S.user)
            return True
        self.answer(401, PAGE % "401 - Unauthorized", headers=[("WWW-Authenticate", "NTLM")])
        return False

    def gate(self):
        m = S.mode()
        if m.get("fail_next", 0) > 0:
            m["fail_next"] -= 1
            S.set_mode(m)
            self.answer(500, PAGE % "<H2>500 - Internal server error.</H2>")
            return False
        if S.ntlm:
            return self.ntlm(self.headers.get("Authorization", ""))  # answers a 401 itself
        if not self.authorized():
            self.answer(401, PAGE % "401 - Unauthorized",
                        headers=[("WWW-Authenticate", 'Basic realm="certsrv-stub"')])
            return False
        return True

    def do_GET(self):
        if not self.gate():
            return
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/certsrv/certcarc.asp":
            return self.answer(200, PAGE % "<Script>var nRenewals=0;</Script>")
        if url.path == "/certsrv/certnew.p7b" and q.get("ReqID") == ["CACert"]:
            der = pkcs7.serialize_certificates([S.inter, S.root], serialization.Encoding.DER)
            return self.answer(200, base64.encodebytes(der), "application/x-pkcs7-certificates")
        if url.path == "/certsrv/certnew.cer" and "ReqID" in q:
            return self.cert(q["ReqID"][0])
        self.answer(404, PAGE % "404 - File or directory not found.")

    def cert(self, rid):
        m = S.mode()
        with lock:
            db = S.load()
            r = db["requests"].get(rid)
            if r is not None and r["status"] == "pending":
                r["polls"] = r.get("polls", 0) + 1
                if r["polls"] > r["pending_polls"]:
                    r["status"] = "issued"
                    r["cert"] = S.issue(r["csr"], r["template"])
                S.save(db)
        if r is None:
            return self.answer(200, PAGE % ("Certificate Services could not find request %s."
                                            "<BR>Disposition message:\t\tThe request was not "
                                            "found." % rid))
        if r["status"] == "denied":
            return self.answer(200, PAGE % ("<P>Disposition message:\t\t%s" % r["message"]))
        if r["status"] == "pending":
            return self.answer(200, PAGE % ("<P>Your certificate request is still pending."
                                            "<P>Disposition message:\t\tTaken Under "
                                            "Submission"))
        pem = r["cert"]
        if m.get("truncate_cert"):
            pem = pem[: len(pem) // 2]
        self.answer(200, pem, m.get("cert_ctype", "application/pkix-cert"))

    def do_POST(self):
        # The body first: a 401 must leave the connection in step (NTLM).
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        if not self.gate():
            return
        if urllib.parse.urlsplit(self.path).path != "/certsrv/certfnsh.asp":
            return self.answer(404, PAGE % "404 - File or directory not found.")
        form = urllib.parse.parse_qs(raw.decode(), keep_blank_values=True)
        m = S.mode()
        if m.get("garbage"):
            return self.answer(200, PAGE % "<H1>Welcome</H1><P>Use this Web site to request "
                               "a certificate.")
        csr = form.get("CertRequest", [""])[0]
        attrib = form.get("CertAttrib", [""])[0]
        attrs = dict(line.split(":", 1) for line in attrib.split("\r\n") if ":" in line)
        template = attrs.get("CertificateTemplate", "")
        try:
            x509.load_pem_x509_csr(csr.encode())
            bad_csr = form.get("Mode") != ["newreq"]
        except ValueError:
            bad_csr = True
        with lock:
            db = S.load()
            rid = str(db["next"])
            db["next"] += 1
            r = {"csr": csr, "template": template, "attributes": attrs, "status": "pending",
                 "pending_polls": m.get("pending_polls", 0), "message": ""}
            if bad_csr:
                r["status"], r["message"] = "denied", "Error Parsing Request  ASN1 bad tag value met. 0x8009310b (ASN: 267 CRYPT_E_ASN1_BADTAG)"
            elif template not in S.templates:
                r["status"], r["message"] = "denied", ("Denied by Policy Module  0x80094800, "
                                                       "The request was for a certificate "
                                                       "template that is not supported by the "
                                                       "Active Directory Certificate Services "
                                                       "policy: %s." % template)
            elif m.get("deny"):
                r["status"], r["message"] = "denied", m["deny"]
            elif r["pending_polls"] == 0:
                r["status"], r["cert"] = "issued", S.issue(csr, template)
            db["requests"][rid] = r
            S.save(db)
        self.log(0, "request %s template=%s key=%s" % (rid, template,
                                                       attrs.get("p11enroll-request", "")))
        if m.get("drop_after_accept"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if m.get("delay"):
            time.sleep(m["delay"])
        if r["status"] == "denied":
            return self.answer(200, PAGE % ("<P ID=locPageTitle><B> Certificate Request Denied"
                                            "</B><P>Your certificate request was denied.<P>"
                                            "The disposition message is \"%s\"." % r["message"]))
        if r["status"] == "pending":
            return self.answer(200, PAGE % ("<P ID=locPageTitle><B> Certificate Pending </B>"
                                            "<P>Your certificate request has been received. "
                                            "However, you must wait for an administrator to "
                                            "issue the certificate you requested.<P>Your "
                                            "Request Id is %s.<P>Please return to this web "
                                            "site in a day or two to retrieve your "
                                            "certificate." % rid))
        self.answer(200, PAGE % ("<P ID=locPageTitle><B> Certificate Issued </B><P>The "
                                 "certificate you requested was issued to you.<P><A "
                                 "Href=\"certnew.cer?ReqID=%s&amp;Enc=b64\">Download "
                                 "certificate</A>" % rid))


def main():
    global S
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--templates", default="User,SmartcardLogon,WebServer")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ntlm", action="store_true", help="NTLM instead of Basic")
    args = p.parse_args()
    S = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(args.dir, "tls.pem"), os.path.join(args.dir, "tls.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    write_atomic(os.path.join(args.dir, "port"), str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
