#!/usr/bin/env python3
"""A stub of an EST server (RFC 7030), for the tests only.

Debian 12 ships no EST server. This stub stands in for one, implementing the
parts p11enroll speaks, from RFC 7030 (and RFC 8951's clarifications):

  GET  /.well-known/est/cacerts         4.1: the CA certificate, certs-only
                                        CMS, base64 (4.1.3)
  POST /.well-known/est/simpleenroll    4.2.1: a base64 PKCS#10
                                        (application/pkcs10), HTTP Basic
                                        (3.2.3) when --user is given
  POST /.well-known/est/simplereenroll  4.2.2: the same, the client
                                        authenticated by a TLS client
                                        certificate this CA issued, whose
                                        subject the CSR repeats
  answers                               4.2.3: 200 with the certificate
                                        (application/pkcs7-mime;
                                        smime-type=certs-only, base64), 202
                                        with Retry-After, 4xx/5xx with text

Certificates are issued by a real CA: `openssl x509 -req` with the stub's
CA key (made with `openssl req -x509` at the first start), the CSR's
extensions copied, clientAuth added; the certs-only structure is
`openssl crl2pkcs7 -nocrl`. The server's TLS certificate (for 127.0.0.1) is
issued by the same CA: the client's explicit trust anchor (3.6.1) is
DIR/ca.pem.

How it answers is read from DIR/mode at every request (one line), so that a
test switches it without a restart:
  issue            (default) issue at once
  pending N        202 Retry-After: 1 for the first N POSTs of each CSR key,
                   then issue (4.2.3's polling: the same request again)
  status CODE      that status, a line of text (401 with WWW-Authenticate)
  ctype            200 with Content-Type text/plain
  truncated        200 with the certs-only DER cut in half
  oversized        200 with 2 MiB of base64 that is not CMS
  otherkey         200 with a certificate for another key than the CSR's
  hang             no answer for 30 s (a client's timeout)

Each request is a line of DIR/requests.log:
  OP spki=SHA256-OF-THE-CSR'S-KEY auth=basic|cert|none answer=STATUS
(never the password). It listens on 127.0.0.1 on a port the kernel picks,
written to DIR/port once it listens.

Usage: est_stub.py --dir DIR [--user NAME --password-file FILE]
It is a stub, not a CA product: no enrollment policy, no database, no
/csrattrs, /serverkeygen or /fullcmc.
"""
import argparse
import base64
import hashlib
import http.server
import os
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PREFIX = "/.well-known/est/"


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d):
    if os.path.exists(os.path.join(d, "ca.pem")):
        return
    j = lambda n: os.path.join(d, n)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", j("ca.key"), "-out", j("ca.pem"), "-days", "30",
        "-subj", "/O=EST Stub/CN=EST Stub CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", j("server.key"), "-out", j("server.csr"), "-subj", "/CN=127.0.0.1")
    with open(j("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", j("server.csr"), "-CA", j("ca.pem"), "-CAkey",
        j("ca.key"), "-CAcreateserial", "-days", "30", "-extfile", j("server.ext"),
        "-out", j("server.pem"))
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", j("other.key"))


def issue(d, csr_der, other_key=False):
    """The certs-only DER of a certificate for the CSR (its key, or another)."""
    with tempfile.TemporaryDirectory(dir=d) as t:
        j = lambda n: os.path.join(t, n)
        with open(j("req.pem"), "w") as f:
            f.write("-----BEGIN CERTIFICATE REQUEST-----\n")
            f.write(base64.encodebytes(csr_der).decode())
            f.write("-----END CERTIFICATE REQUEST-----\n")
        with open(j("ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "extendedKeyUsage=clientAuth,emailProtection\n"
                    "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
        cmd = ["openssl", "x509", "-req", "-in", j("req.pem"), "-CA", os.path.join(d, "ca.pem"),
               "-CAkey", os.path.join(d, "ca.key"), "-CAserial", os.path.join(d, "ca.srl"),
               "-CAcreateserial", "-days", "7", "-copy_extensions", "copy",
               "-extfile", j("ext"), "-out", j("cert.pem")]
        if other_key:
            run("openssl", "pkey", "-in", os.path.join(d, "other.key"), "-pubout",
                "-out", j("other.pub"))
            cmd += ["-force_pubkey", j("other.pub")]
        with LOCK:
            run(*cmd)
        run("openssl", "crl2pkcs7", "-nocrl", "-certfile", j("cert.pem"), "-outform", "DER",
            "-out", j("p7.der"))
        with open(j("p7.der"), "rb") as f:
            return f.read()


def cacerts(d):
    with tempfile.TemporaryDirectory(dir=d) as t:
        out = os.path.join(t, "p7.der")
        run("openssl", "crl2pkcs7", "-nocrl", "-certfile", os.path.join(d, "ca.pem"),
            "-outform", "DER", "-out", out)
        with open(out, "rb") as f:
            return f.read()


LOCK = threading.Lock()
SEEN = {}  # spki hash -> POSTs seen


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def note(self, op, spki, auth, status):
        with LOCK, open(os.path.join(ARGS.dir, "requests.log"), "a") as f:
            f.write(f"{op} spki={spki} auth={auth} answer={status}\n")

    def mode(self):
        try:
            with open(os.path.join(ARGS.dir, "mode")) as f:
                return (f.readline().split() or ["issue"])
        except FileNotFoundError:
            return ["issue"]

    def do_GET(self):
        if self.path != PREFIX + "cacerts":
            return self.send(404, b"not found\n")
        self.note("cacerts", "-", "none", 200)
        self.send(200, base64.b64encode(cacerts(ARGS.dir)), "application/pkcs7-mime",
                  [("Content-Transfer-Encoding", "base64")])

    def basic_ok(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(h[6:], validate=True).decode().partition(":")
        except Exception:
            return False
        return user == ARGS.user and pw == PASSWORD

    def do_POST(self):
        op = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else ""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if op not in ("simpleenroll", "simplereenroll"):
            return self.send(404, b"not found\n")
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/pkcs10":
            self.note(op, "-", "none", 415)
            return self.send(415, b"Content-Type must be application/pkcs10\n")
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
            csr = x509.load_der_x509_csr(der)
        except Exception:
            self.note(op, "-", "none", 400)
            return self.send(400, b"the body is not a base64 PKCS#10 request\n")
        spki = hashlib.sha256(csr.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
        peer = self.connection.getpeercert(binary_form=True)
        auth = "cert" if peer else "none"
        if op == "simplereenroll":
            # 4.2.2: the certificate being renewed authenticates the client.
            if not peer:
                self.note(op, spki, auth, 401)
                return self.send(401, b"simplereenroll needs a client certificate\n")
            old = x509.load_der_x509_certificate(peer)
            if old.subject != csr.subject:
                self.note(op, spki, auth, 400)
                return self.send(400, b"the CSR's subject is not the certificate's\n")
        elif ARGS.user:
            if not self.basic_ok():
                self.note(op, spki, "none", 401)
                return self.send(401, b"authentication required\n", extra=[
                    ("WWW-Authenticate", 'Basic realm="est stub"')])
            auth = "basic+cert" if peer else "basic"
        m = self.mode()
        with LOCK:
            SEEN[spki] = SEEN.get(spki, 0) + 1
            seen = SEEN[spki]
        if m[0] == "pending" and seen <= int(m[1]):
            self.note(op, spki, auth, 202)
            return self.send(202, b"pending approval\n", extra=[("Retry-After", "1")])
        if m[0] == "status":
            code = int(m[1])
            self.note(op, spki, auth, code)
            extra = [("WWW-Authenticate", 'Basic realm="est stub"')] if code == 401 else []
            return self.send(code, b"the stub was told to answer %d\n" % code, extra=extra)
        if m[0] == "hang":
            self.note(op, spki, auth, "hang")
            time.sleep(30)
            return self.send(503, b"late\n")
        if m[0] == "oversized":
            self.note(op, spki, auth, 200)
            return self.send(200, base64.encodebytes(os.urandom(3 * 512 * 1024)),
                             "application/pkcs7-mime")
        p7 = issue(ARGS.dir, der, other_key=(m[0] == "otherkey"))
        self.note(op, spki, auth, 200)
        if m[0] == "ctype":
            return self.send(200, base64.b64encode(p7), "text/plain")
        if m[0] == "truncated":
            p7 = p7[:len(p7) // 2]
        self.send(200, base64.b64encode(p7), "application/pkcs7-mime; smime-type=certs-only",
                  [("Content-Transfer-Encoding", "base64")])


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The TLS handshake in the connection's own thread: a client that
        # stalls or fails it never holds up the others.
        request.settimeout(60)
        try:
            request = CTX.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


def main():
    global ARGS, PASSWORD, CTX
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--user")
    p.add_argument("--password-file")
    ARGS = p.parse_args()
    PASSWORD = None
    if ARGS.user:
        with open(ARGS.password_file) as f:
            PASSWORD = f.read().strip()
    make_ca(ARGS.dir)
    CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CTX.load_cert_chain(os.path.join(ARGS.dir, "server.pem"), os.path.join(ARGS.dir, "server.key"))
    CTX.verify_mode = ssl.CERT_OPTIONAL
    CTX.load_verify_locations(os.path.join(ARGS.dir, "ca.pem"))
    srv = Server(("127.0.0.1", 0), Handler)
    tmp = os.path.join(ARGS.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(ARGS.dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
