#!/usr/bin/env python3
"""acme_ari_stub.py: a STUB for p11enroll's tests of ACME Renewal Information
(RFC 9773), standing in front of a real ACME server (Pebble).

It is not an ACME server. Debian's Pebble 2.4 has no renewalInfo resource and
ignores "replaces", so this stub adds exactly those two things and passes
every other request on to Pebble unchanged, with this stub's Host: Pebble
builds every URL it hands out (account kid, orders, authorizations) from
the Host it is sent, so the client speaks to the stub throughout and the
"url" and "kid" Pebble checks in each JWS are the ones the client signed.
Pebble does all the real work (accounts, nonces, JWS checks, issuance).

  GET  /dir                Pebble's directory and, in every mode but
                           "plain", "renewalInfo":
                           https://127.0.0.1:PORT/renewal-info (mode "plain":
                           none, as Pebble 2.4)
  GET  /renewal-info/ID    the answer set for certID ID (/_stub/answer), else
                           404 with a problem document
  anything else            forwarded to Pebble; a POST's JWS payload is
                           logged. In mode "already-replaced-once" the first
                           newOrder that carries "replaces" is answered 409
                           urn:ietf:params:acme:error:alreadyReplaced
                           (RFC 9773 5) and not forwarded; in mode
                           "already-replaced-always" (a hostile CA) every
                           newOrder is.

Test controls, outside ACME:
  POST /_stub/mode   {"mode": "plain" | "ari" | "already-replaced-once" |
                      "already-replaced-always"}
  POST /_stub/answer {"cert_id": ID, "status": 200, "body": "...",
                      "retry_after": "21600"}   (body sent as is: it may be
                      malformed on purpose)
  GET  /_stub/log    every request so far: method, path and, for newOrder,
                     the decoded JWS payload

Usage: acme_ari_stub.py --port-file F --upstream DIRECTORY_URL --upstream-ca PEM
                        --tls-cert PEM --tls-key PEM
It listens on 127.0.0.1 on a free port, written to F once it listens.
"""
import argparse
import base64
import http.client
import json
import os
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = ("content-length", "content-type", "transfer-encoding", "connection", "date",
               "server", "keep-alive")
LOCK = threading.Lock()
STATE = {"mode": "plain", "answers": {}, "log": [], "replaced_once": False}
ARGS = None


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def upstream(method, url, body=None, host=None, headers=None):
    """One request to the upstream server; (status, headers, body)."""
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=ARGS.upstream_ca)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)
    hdrs = dict(headers or {})
    if host is not None:
        hdrs["Host"] = host
    conn.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    out = (resp.status, resp.getheaders(), data)
    conn.close()
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def me(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, body, ctype="application/json", extra=None, head=False):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra or []:
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def record(self, entry):
        with LOCK:
            STATE["log"].append(entry)

    def forward(self, method, data=None):
        up = urllib.parse.urlsplit(ARGS.upstream)
        hdrs = {}
        if self.headers.get("Content-Type"):
            hdrs["Content-Type"] = self.headers["Content-Type"]
        status, headers, body = upstream(method, "https://%s%s" % (up.netloc, self.path),
                                         body=data, host=self.me(), headers=hdrs)
        keep = [(k, v) for k, v in headers if k.lower() not in HOP_HEADERS]
        ctype = dict((k.lower(), v) for k, v in headers).get("content-type", "text/plain")
        self.send(status, body, ctype, keep, head=method == "HEAD")

    def directory(self):
        status, _, data = upstream("GET", ARGS.upstream, host=self.me())
        d = json.loads(data)
        with LOCK:
            mode = STATE["mode"]
        if mode != "plain":
            d["renewalInfo"] = "https://%s/renewal-info" % self.me()
        self.send(status, json.dumps(d))

    def do_HEAD(self):
        self.record({"method": "HEAD", "path": self.path})
        self.forward("HEAD")

    def do_GET(self):
        path = self.path
        if path == "/_stub/log":
            with LOCK:
                return self.send(200, json.dumps(STATE["log"]))
        self.record({"method": "GET", "path": path})
        if path == "/dir":
            return self.directory()
        if path.startswith("/renewal-info/"):
            cert_id = path[len("/renewal-info/"):]
            with LOCK:
                a = STATE["answers"].get(cert_id)
            if a is None:
                return self.send(404, json.dumps({
                    "type": "urn:ietf:params:acme:error:malformed",
                    "detail": "no such certificate"}), "application/problem+json")
            extra = [("Retry-After", a["retry_after"])] if a.get("retry_after") else []
            return self.send(int(a.get("status", 200)), a["body"], extra=extra)
        self.forward("GET")

    def do_POST(self):
        path = self.path
        data = self.body()
        if path == "/_stub/mode":
            with LOCK:
                STATE["mode"] = json.loads(data)["mode"]
                STATE["replaced_once"] = False
            return self.send(200, "{}")
        if path == "/_stub/answer":
            a = json.loads(data)
            with LOCK:
                STATE["answers"][a["cert_id"]] = a
            return self.send(200, "{}")
        entry = {"method": "POST", "path": path}
        try:
            jws = json.loads(data)
            entry["payload"] = json.loads(b64url_decode(jws["payload"]) or b"null")
        except (ValueError, KeyError, TypeError):
            entry["payload"] = None
        self.record(entry)
        payload = entry["payload"]
        with LOCK:
            is_order = isinstance(payload, dict) and "identifiers" in payload
            refuse = is_order and (
                STATE["mode"] == "already-replaced-always" or
                (STATE["mode"] == "already-replaced-once" and not STATE["replaced_once"]
                 and "replaces" in payload))
            if refuse:
                STATE["replaced_once"] = True
        if refuse:
            return self.send(409, json.dumps({
                "type": "urn:ietf:params:acme:error:alreadyReplaced",
                "detail": "the certificate is already replaced by another order",
                "status": 409}), "application/problem+json")
        self.forward("POST", data)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--upstream-ca", required=True)
    p.add_argument("--tls-cert", required=True)
    p.add_argument("--tls-key", required=True)
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
