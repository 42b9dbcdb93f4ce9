#!/usr/bin/env python3
"""A STUB, not a CA: a hostile CA for tests/integration/hostile_ca.sh.

It answers just enough of CFSSL's API and of ACME (RFC 8555) for p11enroll
to reach the answer under test, and that answer is wrong on purpose: JSON
members of the wrong type, nulls, escape sequences, huge Retry-After values.
No real server can be made to answer like that, hence a stub.

Usage: hostile_ca_stub.py --dir DIR [--port N]
It listens on 127.0.0.1 (port 0: a free one), writes the port to DIR/port,
and reads DIR/mode (one word) at each request to pick its answers:
  cfssl-errors-int     CFSSL: {"errors":1}                          (HTTP 400)
  cfssl-escapes        CFSSL: an error message with terminal escapes (HTTP 400)
  acme-authz-string    ACME: an order whose "authorizations" is a string
  acme-authz-null      ACME: an order whose "authorizations" is [null]
  acme-challenges-obj  ACME: an authorization whose "challenges" is an object
  acme-retry-huge      ACME: a processing order with Retry-After 2^63
  acme-revoke-escapes  ACME: revokeCert refused (403) with terminal escapes in "detail"
  acme-revoke-typeless ACME: revokeCert refused (400) with "type" a number, "detail" a list
Every request is logged to DIR/requests.log.
"""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ESC = "\x1b"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        with open(os.path.join(self.server.dir, "requests.log"), "a") as f:
            f.write("%s %s\n" % (self.command, self.path))

    def mode(self):
        try:
            with open(os.path.join(self.server.dir, "mode")) as f:
                return f.read().strip()
        except OSError:
            return ""

    def base(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def answer(self, status, body, headers=None, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Replay-Nonce", "nonce-%d" % os.getpid())
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_HEAD(self):
        self.answer(200, b"")

    def do_GET(self):
        if self.path == "/dir":
            b = self.base()
            return self.answer(200, json.dumps({
                "newNonce": b + "/nonce", "newAccount": b + "/account",
                "newOrder": b + "/new-order", "revokeCert": b + "/revoke"}))
        self.answer(404, "{}")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        mode, b = self.mode(), self.base()
        if self.path.startswith("/api/v1/cfssl/"):
            if mode == "cfssl-escapes":
                msg = "bad csr " + ESC + "[2J" + ESC + "]0;pwned\x07\nsecond line"
                return self.answer(400, json.dumps({
                    "success": False, "result": None,
                    "errors": [{"code": 1000, "message": msg}], "messages": []}))
            return self.answer(400, '{"errors":1}')
        if self.path == "/account":
            return self.answer(201, json.dumps({"status": "valid"}),
                               {"Location": b + "/account/1"})
        if self.path == "/new-order":
            return self.answer(201, json.dumps({"status": "pending"}),
                               {"Location": b + "/order/1"})
        if self.path == "/order/1":
            if mode == "acme-authz-null":
                return self.answer(200, '{"status":"pending","authorizations":[null]}')
            if mode == "acme-challenges-obj":
                return self.answer(200, json.dumps({
                    "status": "pending", "authorizations": [b + "/authz/1"],
                    "finalize": b + "/finalize/1"}))
            if mode == "acme-retry-huge":
                return self.answer(200, json.dumps({
                    "status": "processing", "authorizations": [],
                    "finalize": b + "/finalize/1"}),
                    {"Retry-After": "9223372036854775807"})
            return self.answer(200, json.dumps({
                "status": "pending", "authorizations": b + "/authz/1"}))
        if self.path == "/revoke":
            if mode == "acme-revoke-escapes":
                return self.answer(403, json.dumps({
                    "type": "urn:ietf:params:acme:error:unauthorized",
                    "detail": "not yours " + ESC + "[2J" + ESC + "]0;pwned\x07\nsecond line"}),
                    ctype="application/problem+json")
            return self.answer(400, '{"type": 5, "detail": [1]}',
                               ctype="application/problem+json")
        if self.path == "/authz/1":
            return self.answer(200, json.dumps({
                "status": "pending", "identifier": {"type": "dns", "value": "h.example.org"},
                "challenges": {"type": "http-01", "token": "t", "url": b + "/chal/1"}}))
        self.answer(404, "{}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    httpd.dir = a.dir
    with open(os.path.join(a.dir, "port.tmp"), "w") as f:
        f.write(str(httpd.server_address[1]))
    os.rename(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    httpd.serve_forever()


if __name__ == "__main__":
    main()
