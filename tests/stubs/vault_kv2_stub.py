#!/usr/bin/env python3
"""vault_kv2_stub.py: a STUB of HashiCorp Vault / OpenBao for p11enroll's tests.

It is not Vault. It answers the few requests p11enroll's "vault-kv2" vault
sends, the way Vault's documentation says the KV version 2 secrets engine and
the AppRole auth method answer them:

  POST|PUT /v1/MOUNT/data/PATH         {"data":{...},"options":{"cas":N}}
           -> 200 {"data":{"version":N,...}}; cas mismatch -> 400
              {"errors":["check-and-set parameter did not match the current version"]}
  GET      /v1/MOUNT/data/PATH         -> 200 {"data":{"data":{...},"metadata":{...}}}
                                          or 404 {"errors":[]}
  LIST     /v1/MOUNT/metadata/PATH     (or GET ...?list=true)
           -> 200 {"data":{"keys":[...]}} or 404 {"errors":[]}
  GET      /v1/MOUNT/metadata/PATH     -> 200 {"data":{"current_version":N,
                                          "custom_metadata":{...}|null,...}} or 404
  POST     /v1/MOUNT/metadata/PATH     {"custom_metadata":{"k":"v",...}} -> 204; the map
           is replaced as a whole; values strings (else 400), at most 64 keys,
           keys 128 and values 512 bytes
  DELETE   /v1/MOUNT/metadata/PATH     -> 204 (also when absent, as Vault does)
  DELETE   /v1/MOUNT/data/PATH         -> 204 (soft delete of the latest version)
  POST     /v1/auth/APPROLE/login      {"role_id","secret_id"}
           -> 200 {"auth":{"client_token":...}} or 400 {"errors":["invalid role or secret ID"]}

Every /v1 request but the login needs X-Vault-Token (a --token, or one the
login issued): else 403 {"errors":["permission denied"]}. With --namespace NS
the token is valid only with X-Vault-Namespace: NS (tokens are namespace
scoped), else 403 as well. An unknown mount is 404 {"errors":["no handler for
route ..."]}.

Test controls, outside Vault's API (no token needed):
  POST /_stub/mode {"mode": M} with M one of
       normal | 403 | 500 | 503 | lose-next-write
       (lose-next-write: the next write is committed, then answered 500, as
       when an answer is lost on the way back)
  GET  /_stub/log   every request so far: method, path, query, whether a token
                    and which namespace came (never a token or a body)

Usage: vault_kv2_stub.py --port-file F [--token T]... [--role-id R --secret-id S]
       [--namespace NS] [--mount M] [--tls-cert PEM --tls-key PEM]
The chosen port (on 127.0.0.1) is written to F once the stub listens.
"""
import argparse
import datetime
import json
import os
import secrets
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"mode": "normal", "log": [], "kv": {}, "tokens": set()}
ARGS = None


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Cache-Control", "no-store")
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def errors(self, status, *msgs):
        self.answer(status, {"errors": list(msgs)})

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    # --- dispatch ---
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def do_LIST(self):
        self.route("LIST")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query)
        if path.startswith("/_stub/"):
            return self.control(method, path)
        with LOCK:
            STATE["log"].append({
                "method": method, "path": path, "raw_path": url.path, "query": url.query,
                "token": "X-Vault-Token" in self.headers,
                "namespace": self.headers.get("X-Vault-Namespace"),
                "vault_request": self.headers.get("X-Vault-Request"),
            })
            mode = STATE["mode"]
        if not path.startswith("/v1/"):
            return self.errors(404, "no handler for route")
        rest = path[len("/v1/"):]
        if mode == "403":
            return self.errors(403, "1 error occurred:\n\t* permission denied\n\n")
        if mode == "500":
            return self.errors(500, "internal error")
        if mode == "503":
            return self.errors(503, "Vault is sealed")
        if rest.startswith("auth/") and rest.endswith("/login") and method in ("POST", "PUT"):
            return self.login(rest)
        if not self.authorized():
            return self.errors(403, "permission denied")
        mount = ARGS.mount + "/"
        if not rest.startswith(mount):
            return self.errors(404, 'no handler for route "%s". route entry not found.' % rest)
        rest = rest[len(mount):]
        kind, _, key = rest.partition("/")
        listing = method == "LIST" or (method == "GET" and query.get("list") == ["true"])
        if kind == "data" and method in ("POST", "PUT") and key:
            return self.write(key, mode)
        if kind == "data" and method == "GET" and key:
            return self.read(key)
        if kind == "data" and method == "DELETE" and key:
            return self.soft_delete(key)
        if kind == "metadata" and listing:
            return self.list(key)
        if kind == "metadata" and method == "GET" and key:
            return self.metadata(key)
        if kind == "metadata" and method in ("POST", "PUT") and key:
            return self.write_metadata(key)
        if kind == "metadata" and method == "DELETE" and key:
            with LOCK:
                STATE["kv"].pop(key.strip("/"), None)
            return self.answer(204)
        return self.errors(405, "unsupported operation")

    def authorized(self):
        token = self.headers.get("X-Vault-Token")
        if ARGS.namespace and self.headers.get("X-Vault-Namespace") != ARGS.namespace:
            return False  # a token lives in its namespace
        with LOCK:
            return token is not None and (token in ARGS.token or token in STATE["tokens"])

    # --- AppRole ---
    def login(self, rest):
        req = self.body_json() or {}
        mount = rest[len("auth/"):-len("/login")]
        if mount != ARGS.approle_mount:
            return self.errors(404, 'no handler for route "%s". route entry not found.' % rest)
        if ARGS.namespace and self.headers.get("X-Vault-Namespace") != ARGS.namespace:
            return self.errors(404, 'no handler for route "%s". route entry not found.' % rest)
        if not ARGS.role_id or req.get("role_id") != ARGS.role_id or \
                req.get("secret_id") != ARGS.secret_id:
            return self.errors(400, "invalid role or secret ID")
        token = "hvs." + secrets.token_urlsafe(24)
        with LOCK:
            STATE["tokens"].add(token)
        self.answer(200, {
            "request_id": secrets.token_hex(8), "lease_id": "", "renewable": False,
            "lease_duration": 0, "data": None, "wrap_info": None, "warnings": None,
            "auth": {"client_token": token, "accessor": secrets.token_hex(8),
                     "policies": ["default", "p11enroll"],
                     "token_policies": ["default", "p11enroll"], "metadata": {},
                     "lease_duration": 3600, "renewable": True, "entity_id": "",
                     "token_type": "service", "orphan": True}})

    # --- KV v2 ---
    def write(self, key, mode):
        req = self.body_json()
        key = key.strip("/")
        if req is None:
            return self.errors(400, "failed to parse JSON input")
        if not isinstance(req.get("data"), dict):
            return self.errors(400, "no data provided")
        with LOCK:
            entry = STATE["kv"].setdefault(key, {"versions": [], "created": now()})
            current = len(entry["versions"])
            cas = (req.get("options") or {}).get("cas")
            if cas is not None and cas != current:
                if not entry["versions"]:
                    del STATE["kv"][key]
                return self.errors(400, "check-and-set parameter did not match the current version")
            meta = {"created_time": now(), "custom_metadata": None, "deletion_time": "",
                    "destroyed": False, "version": current + 1}
            entry["versions"].append({"data": req["data"], "metadata": meta})
            if mode == "lose-next-write":
                STATE["mode"] = "normal"
                lost = True
            else:
                lost = False
        if lost:
            return self.errors(500, "internal error")
        self.answer(200, {"request_id": secrets.token_hex(8), "lease_id": "",
                          "renewable": False, "lease_duration": 0, "data": meta,
                          "wrap_info": None, "warnings": None, "auth": None})

    def read(self, key):
        with LOCK:
            entry = STATE["kv"].get(key.strip("/"))
            latest = entry["versions"][-1] if entry and entry["versions"] else None
        if latest is None:
            return self.errors(404)
        if latest["metadata"]["deletion_time"]:
            return self.answer(404, {"request_id": secrets.token_hex(8),
                                     "data": {"data": None, "metadata": latest["metadata"]}})
        self.answer(200, {"request_id": secrets.token_hex(8), "lease_id": "",
                          "renewable": False, "lease_duration": 0,
                          "data": {"data": latest["data"], "metadata": latest["metadata"]},
                          "wrap_info": None, "warnings": None, "auth": None})

    def soft_delete(self, key):
        with LOCK:
            entry = STATE["kv"].get(key.strip("/"))
            if entry and entry["versions"]:
                entry["versions"][-1]["metadata"]["deletion_time"] = now()
        self.answer(204)

    def list(self, key):
        prefix = key.strip("/")
        prefix = prefix + "/" if prefix else ""
        keys = set()
        with LOCK:
            for k in STATE["kv"]:
                if k.startswith(prefix):
                    head, slash, _ = k[len(prefix):].partition("/")
                    keys.add(head + slash)
        if not keys:
            return self.errors(404)
        self.answer(200, {"request_id": secrets.token_hex(8), "data": {"keys": sorted(keys)}})

    def metadata(self, key):
        with LOCK:
            entry = STATE["kv"].get(key.strip("/"))
            if not entry:
                return self.errors(404)
            versions = {str(i + 1): v["metadata"] for i, v in enumerate(entry["versions"])}
        self.answer(200, {"request_id": secrets.token_hex(8), "data": {
            "cas_required": False, "created_time": entry["created"],
            "current_version": len(versions), "custom_metadata": entry.get("custom"),
            "delete_version_after": "0s", "max_versions": 0, "oldest_version": 0,
            "updated_time": now(), "versions": versions}})

    def write_metadata(self, key):
        req = self.body_json()
        custom = (req or {}).get("custom_metadata")
        if not isinstance(custom, dict) or len(custom) > 64 or any(
                not isinstance(v, str) or len(k) > 128 or len(v) > 512
                for k, v in custom.items()):
            return self.errors(400, "custom_metadata: values must be strings, 64 keys at most")
        with LOCK:
            entry = STATE["kv"].setdefault(key.strip("/"), {"versions": [], "created": now()})
            entry["custom"] = custom
        self.answer(204)

    # --- test controls ---
    def control(self, method, path):
        if path == "/_stub/mode" and method == "POST":
            req = self.body_json() or {}
            mode = req.get("mode")
            if mode not in ("normal", "403", "500", "503", "lose-next-write"):
                return self.errors(400, "unknown mode")
            with LOCK:
                STATE["mode"] = mode
            return self.answer(204)
        if path == "/_stub/log" and method == "GET":
            with LOCK:
                return self.answer(200, STATE["log"])
        return self.errors(404, "unknown stub control")


def main():
    global ARGS
    ap = argparse.ArgumentParser(description="A stub of Vault's KV v2 API, for tests.")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--role-id")
    ap.add_argument("--secret-id")
    ap.add_argument("--approle-mount", default="approle")
    ap.add_argument("--namespace")
    ap.add_argument("--mount", default="secret")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ARGS = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, ARGS.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
