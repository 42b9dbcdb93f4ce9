#!/usr/bin/env python3
"""cyberark_stub.py: a STUB of CyberArk's PVWA REST API for p11enroll's tests.

It is not CyberArk. It answers the requests p11enroll's "cyberark" vault
sends the way CyberArk's published documentation describes them; written from
these pages (read 2026-11; no text or code copied):
  Logon        docs.cyberark.com/PAS/Latest/en/Content/SDK/CyberArk%20Authentication%20-%20Logon_v10.htm
  Add account  docs.cyberark.com/PAS/Latest/en/Content/WebServices/Add%20Account%20v10.htm
  Get accounts docs.cyberark.com/PrivCloud-SS/Latest/en/Content/SDK/GetAccounts.htm
  Get password value (Retrieve)
               docs.cyberark.com/Product-Doc/OnlineHelp/PAS/Latest/en/Content/WebServices/GetPasswordValueV10.htm
  Update account
               docs.cyberark.com/Product-Doc/OnlineHelp/PAS/Latest/en/Content/SDK/UpdateAccount%20v10.htm
  Delete account
               docs.cyberark.com/PAS/Latest/en/Content/WebServices/Delete%20Account.htm
  Return codes docs.cyberark.com/PrivCloud-SS/Latest/en/Content/WebServices/Implementing%20Privileged%20Account%20Security%20Web%20Services%20.htm
and, for what those pages leave out, how psPAS (github.com/pspete/psPAS,
psPAS/Private/Invoke-PASRestMethod.ps1) reads error bodies and what its issues
show real PVWAs answer: error bodies {"ErrorCode","ErrorMessage"} with inner
errors in "Details" (a 400 PASWS167E "There are some invalid parameters" whose
Details say PASWS031E "Safe [X] was not found" for an Add to a safe the user is
not a member of: psPAS issue 478); 403 with ErrorCode CAWS00001E for a missing
permission (psPAS issues 143, 337).

  POST /PasswordVault/API/auth/{Cyberark|LDAP|RADIUS}/Logon (the method in any
       case: the PVWA's IIS routes ignore it; the Logon page spells them so)
       {"username","password","concurrentSession": boolean}
       -> 200 "TOKEN" (a JSON string), or 401 {"ErrorCode":"ITATS004E",...};
          another method -> 400 (PASWS043E, illustrative); auth/Windows/Logon
          (integrated Windows authentication) -> 401 asking for Negotiate or
          NTLM, which this stub does not speak
  POST /PasswordVault/API/Auth/Logoff -> 200
  GET  /PasswordVault/API/Accounts?search=W&filter=safeName eq S&limit=N&offset=K
       -> 200 {"value":[account...],"count":N[,"nextLink":...]} (search: every
          word contained in the name or user name; limit at most 1000, default
          50). Only accounts of the safe the user is a member of are visible:
          another safe lists nothing (what a real PVWA answers there is not
          documented; the Vault shows a user nothing of a safe it is not in).
  POST /PasswordVault/API/Accounts {name,userName,safeName,platformId,secretType,
       secret,platformAccountProperties,secretManagement}
       -> 201 account (without the secret, with "id" and "createdTime"); the
          name taken in the safe -> 409 {"ErrorCode":"PASWS027E"}; unknown
          platform, a safe the user is not in, a missing member -> 400
          PASWS167E with Details. The platform is enforced as a PVWA does:
          a property it does not define, or a required one missing (the
          account's "address" and "userName" are required by default, as on
          the platforms CyberArk ships), is 400 PASWS167E with a Details
          entry naming it (the inner codes PASWS260E/PASWS261E are
          illustrative, not from the pages)
  POST /PasswordVault/API/Accounts/ID/Password/Retrieve {"reason"}
       -> 200 "SECRET" (a JSON string); members matched whatever their case
  PATCH /PasswordVault/API/Accounts/ID [{"op":"add|replace","path","value"}] -> 200
  DELETE /PasswordVault/API/Accounts/ID -> 204
Every request but Logon needs the Authorization header with a live token,
else 401 {"ErrorCode":"PASWS006E",...} (the status is the documented one for
"requires user authentication"; the code is not taken from the pages above).

The Central Credential Provider (with --ccp-app-id and --ccp-client-ca), from
CyberArk's "Call the Web Service using REST" page of its documentation
(docs.cyberark.com/Product-Doc/OnlineHelp/AAM-CP/Latest/en/Content/CCP/Calling-the-Web-Service-using-REST.htm)
and the "Content" member as CyberArk's Ansible module cyberark_credential
reads it:
  GET  /AIMWebService/api/Accounts?AppID=A&Safe=S&Folder=F&Object=O&Reason=R
       (parameter names in any case) with a client certificate the CA issued
       -> 200 {"Content":"SECRET","Name":O,"Safe":S,"Folder":"Root",...};
          no such object -> 404 {"ErrorCode":"APPAP004E","ErrorMsg":...};
          another AppID or no certificate -> 403 (APPAP282E), another safe
          -> 403 (APPAP306E): these two codes are illustrative, not from
          the pages.

Test controls, outside the API:
  POST /_stub/mode {"mode": M}: normal | expire-session (every token dies now)
       | 403 | 500 | lose-next-add (the next Add is committed, then answered
       500) | slow-next-add (committed, answered after 8 s) | dup-race (the
       next Add finds the account made by someone else: 409) | hostile
       (wrong JSON types in lists) | hostile-403 (a 403 whose message holds
       escapes and line breaks)
  POST /_stub/platform {"required": [..], "optional": [..]}: the platform's
       definition (property names; "address" and "userName" are the account's
       own members, the others go in platformAccountProperties). Default:
       required address, userName; optional P11eIdentity, CertCreated,
       CertExpires, CertSHA256 (what docs/config.md tells the admin to define)
  POST /_stub/max-records {"records": N}: pages of Get accounts hold at most N
       (the Get accounts page: "determined by the MaxDisplayedRecords parameter")
  GET  /_stub/log       every request: method, path, query (never a body or header)
  GET  /_stub/accounts  the accounts (name, safe, properties; never a secret)

Usage: cyberark_stub.py --port-file F --user U --password-file P --safe S
       [--platform ID] [--tls-cert PEM --tls-key PEM]
       [--ccp-app-id ID --ccp-client-ca PEM]
"""
import argparse
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"mode": "normal", "log": [], "accounts": {}, "tokens": set(), "next_id": 1,
         "max_records": 1000,
         "platform": {"required": ["address", "userName"],
                      "optional": ["P11eIdentity", "CertCreated", "CertExpires", "CertSHA256"]}}
# The account's own members a platform may require; the rest are properties.
BASE_MEMBERS = ("address", "userName")
ARGS = None
API = "/PasswordVault/API/"


def public(a):
    return {k: v for k, v in a.items() if k != "secret"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, obj=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, msg, details=None):
        if STATE["mode"].startswith("hostile"):
            msg = "\x1b[31mred\nsecond line\r\x07" + msg
        body = {"ErrorCode": code, "ErrorMessage": msg}
        if details:
            body["Details"] = [{"ErrorCode": c, "ErrorMessage": m} for c, m in details]
        return self.answer(status, body)

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query)
        body = self.body_json()
        with LOCK:
            STATE["log"].append({"method": method, "path": path, "query": url.query})
        if path.startswith("/_stub/"):
            return self.control(method, path, body)
        if method == "GET" and path.lower() == "/aimwebservice/api/accounts":
            return self.ccp(query)
        if not path.lower().startswith(API.lower()):
            return self.answer(404, {"Message": "No HTTP resource was found"})
        rest = path[len(API):].strip("/")
        parts = rest.split("/")
        if method == "POST" and len(parts) == 3 and parts[0].lower() == "auth" and \
                parts[2].lower() == "logon":
            return self.logon(parts[1], body)
        if not self.authorized():
            return self.error(401, "PASWS006E", "Your session has expired. Please log on again.")
        if STATE["mode"] == "500":
            return self.error(500, "PASWS999E", "Internal error")
        if method == "POST" and rest.lower() == "auth/logoff":
            with LOCK:
                STATE["tokens"].discard(self.headers.get("Authorization"))
            return self.answer(200, None)
        if parts[0].lower() != "accounts":
            return self.answer(404, {"Message": "No HTTP resource was found"})
        if STATE["mode"] in ("403", "hostile-403"):
            # A member of the safe without the permission the request needs.
            return self.error(403, "CAWS00001E", "You are not authorized to perform this action.")
        if method == "GET" and len(parts) == 1:
            return self.get_accounts(query)
        if method == "POST" and len(parts) == 1:
            return self.add(body)
        with LOCK:
            acct = STATE["accounts"].get(parts[1]) if len(parts) > 1 else None
        if acct is None:
            return self.error(404, "PASWS204E", "Account was not found.")
        if method == "POST" and len(parts) == 4 and parts[2].lower() == "password" and \
                parts[3].lower() == "retrieve":
            # ASP.NET binds JSON members whatever their case: "reason" or "Reason".
            reason = [v for k, v in (body or {}).items() if k.lower() == "reason"] \
                if isinstance(body, dict) else []
            if not reason or not isinstance(reason[0], str):
                return self.error(400, "PASWS167E", "There are some invalid parameters",
                                  [("PASWS167E", "A reason is required.")])
            return self.answer(200, acct["secret"])
        if method == "PATCH" and len(parts) == 2:
            return self.patch(acct, body)
        if method == "DELETE" and len(parts) == 2:
            with LOCK:
                del STATE["accounts"][parts[1]]
            return self.answer(204, None)
        return self.answer(405, {"Message": "method not allowed"})

    def ccp(self, query):
        # The Central Credential Provider: the application by its AppID and
        # its client certificate (issued by --ccp-client-ca), no session.
        q = {k.lower(): v[0] for k, v in query.items()}
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if not ARGS.ccp_app_id or q.get("appid") != ARGS.ccp_app_id or not cert:
            return self.answer(403, {"ErrorCode": "APPAP282E", "ErrorMsg":
                                     "Application [%s] is not allowed: authentication "
                                     "failed." % q.get("appid")})
        if q.get("safe", "").lower() != ARGS.safe.lower():
            return self.answer(403, {"ErrorCode": "APPAP306E", "ErrorMsg":
                                     "The application is not a member of safe [%s]."
                                     % q.get("safe")})
        obj = q.get("object", "")
        with LOCK:
            hits = [a for a in STATE["accounts"].values()
                    if a["safeName"].lower() == ARGS.safe.lower() and
                    a["name"].lower() == obj.lower()]
        if not hits:
            return self.answer(404, {"ErrorCode": "APPAP004E", "ErrorMsg":
                                     "Password object matching query [Safe=%s;Folder=%s;"
                                     "Object=%s] was not found (Diagnostic Info: 5)."
                                     % (q.get("safe"), q.get("folder", "Root"), obj)})
        a = hits[0]
        return self.answer(200, {"Content": a["secret"], "UserName": a["userName"],
                                 "Address": "", "Safe": a["safeName"], "Folder": "Root",
                                 "Name": a["name"], "PolicyID": a["platformId"],
                                 "PasswordChangeInProcess": "False",
                                 "CreationMethod": "PVWA", "DeviceType": "Application"})

    def authorized(self):
        tok = self.headers.get("Authorization")
        with LOCK:
            return tok is not None and tok in STATE["tokens"]

    def logon(self, method, body):
        if method.lower() == "windows":
            # IIS answers integrated Windows authentication with a challenge.
            self.send_response(401)
            self.send_header("WWW-Authenticate", "Negotiate")
            self.send_header("WWW-Authenticate", "NTLM")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if method.lower() not in ("cyberark", "ldap", "radius"):
            return self.error(400, "PASWS043E", "Unknown authentication method.")
        with open(ARGS.password_file) as f:
            want = f.read().strip()
        if not isinstance(body, dict) or body.get("username") != ARGS.user or \
                body.get("password") != want:
            return self.error(401, "ITATS004E", "Authentication failure for User [%s]." %
                              (body or {}).get("username"))
        tok = secrets.token_urlsafe(24)
        with LOCK:
            STATE["tokens"].add(tok)
        return self.answer(200, tok)

    def safe_of(self, filt):
        # "safeName eq NAME" is the one filter this stub knows.
        f = (filt or [""])[0]
        if f.lower().startswith("safename eq "):
            return f[len("safeName eq "):]
        return None

    def get_accounts(self, query):
        safe = self.safe_of(query.get("filter"))
        words = (query.get("search") or [""])[0].split()
        # The PVWA's MaxDisplayedRecords caps a page below the limit asked for.
        limit = min(int((query.get("limit") or ["50"])[0]), STATE["max_records"])
        offset = int((query.get("offset") or ["0"])[0])
        with LOCK:
            # Only the accounts of safes the user is a member of are visible.
            found = [public(a) for a in STATE["accounts"].values()
                     if a["safeName"].lower() == ARGS.safe.lower() and
                     (safe is None or a["safeName"].lower() == safe.lower()) and
                     all(w.lower() in (a["name"] + " " + a["userName"]).lower() for w in words)]
        found.sort(key=lambda a: int(a["id"].split("_")[1]))
        page = found[offset:offset + limit]
        if STATE["mode"] == "hostile":
            page = [{"id": 7, "name": ["x"], "safeName": None}] + page + ["junk", 3]
        answer = {"value": page, "count": len(found)}
        if offset + limit < len(found):
            answer["nextLink"] = "api/accounts?%s" % urllib.parse.urlencode(
                {"offset": offset + limit, "limit": limit, "search": " ".join(words),
                 "filter": (query.get("filter") or [""])[0]})
        return self.answer(200, answer)

    def add(self, body):
        if not isinstance(body, dict):
            return self.error(400, "PASWS167E", "The request body is not valid JSON.")
        need = ("name", "safeName", "platformId", "secretType", "secret")
        if any(not isinstance(body.get(k), str) for k in need):
            return self.error(400, "PASWS167E", "There are some invalid parameters",
                              [("PASWS167E", "A mandatory parameter is missing.")])
        if body["platformId"] != ARGS.platform:
            return self.error(400, "PASWS167E", "There are some invalid parameters",
                              [("PASWS165E", "Platform [%s] was not found" % body["platformId"])])
        bad = self.platform_refuses(body)
        if bad:
            return self.error(400, "PASWS167E", "There are some invalid parameters", [bad])
        if body["safeName"].lower() != ARGS.safe.lower():
            # A safe the user is not a member of is one it cannot see.
            return self.error(400, "PASWS167E", "There are some invalid parameters",
                              [("PASWS031E", "Safe [%s] was not found" % body["safeName"])])
        mode = STATE["mode"]
        with LOCK:
            if mode == "dup-race":
                # Someone else made the account, with another secret, just
                # before this Add.
                STATE["mode"] = "normal"
                other = dict(body, id="12_%d" % STATE["next_id"], secret="someone-else",
                             userName=body.get("userName", ""),
                             platformAccountProperties={}, secretManagement={},
                             createdTime=int(time.time()))
                STATE["next_id"] += 1
                STATE["accounts"][other["id"]] = other
            for a in STATE["accounts"].values():
                if a["safeName"].lower() == body["safeName"].lower() and \
                        a["name"].lower() == body["name"].lower():
                    return self.error(409, "PASWS027E", "The account already exists.")
            acct = {
                "id": "12_%d" % STATE["next_id"],
                "name": body["name"],
                "userName": body.get("userName", ""),
                "address": body.get("address", ""),
                "safeName": body["safeName"],
                "platformId": body["platformId"],
                "secretType": body["secretType"],
                "secret": body["secret"],
                "platformAccountProperties": body.get("platformAccountProperties") or {},
                "secretManagement": body.get("secretManagement") or {},
                "createdTime": int(time.time()),
            }
            STATE["next_id"] += 1
            STATE["accounts"][acct["id"]] = acct
            if mode in ("lose-next-add", "slow-next-add"):
                STATE["mode"] = "normal"
        if mode == "lose-next-add":
            return self.error(500, "PASWS999E", "Internal error")
        if mode == "slow-next-add":
            time.sleep(8)
        return self.answer(201, public(acct))

    def platform_refuses(self, body, patch_props=None):
        # (code, message) for what the platform's definition refuses, or None.
        with LOCK:
            plat = STATE["platform"]
        defined = [p.lower() for p in plat["required"] + plat["optional"]]
        props = patch_props if patch_props is not None else \
            (body.get("platformAccountProperties") or {})
        if not isinstance(props, dict):
            return ("PASWS167E", "platformAccountProperties is not an object")
        for name in props:
            if name.lower() not in defined:
                return ("PASWS260E", "Property [%s] is not defined for platform [%s]"
                        % (name, ARGS.platform))
        if patch_props is not None:
            return None
        for name in plat["required"]:
            if name in BASE_MEMBERS:
                have = body.get(name)
            else:
                have = next((v for k, v in props.items() if k.lower() == name.lower()), None)
            if not isinstance(have, str) or not have:
                return ("PASWS261E", "Mandatory property [%s] of platform [%s] is missing"
                        % (name, ARGS.platform))
        return None

    def patch(self, acct, ops):
        if not isinstance(ops, list):
            return self.error(400, "PASWS167E", "The request body is not a JSON Patch.")
        prefix = "/platformAccountProperties/"
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace") or \
                    not str(op.get("path", "")).startswith(prefix):
                return self.error(400, "PASWS167E", "Unsupported patch operation.")
        bad = self.platform_refuses(None, {op["path"][len(prefix):]: 1 for op in ops})
        if bad:
            return self.error(400, "PASWS167E", "There are some invalid parameters", [bad])
        with LOCK:
            for op in ops:
                acct["platformAccountProperties"][op["path"][len(prefix):]] = op.get("value")
        return self.answer(200, public(acct))

    def control(self, method, path, body):
        if method == "POST" and path == "/_stub/mode":
            with LOCK:
                STATE["mode"] = body["mode"]
                if body["mode"] == "expire-session":
                    STATE["tokens"].clear()
                    STATE["mode"] = "normal"
            return self.answer(200, {})
        if method == "POST" and path == "/_stub/platform":
            with LOCK:
                STATE["platform"] = {"required": list(body.get("required", [])),
                                     "optional": list(body.get("optional", []))}
            return self.answer(200, {})
        if method == "POST" and path == "/_stub/max-records":
            with LOCK:
                STATE["max_records"] = int(body["records"])
            return self.answer(200, {})
        if path == "/_stub/log":
            with LOCK:
                return self.answer(200, STATE["log"])
        if path == "/_stub/accounts":
            with LOCK:
                return self.answer(200, [public(a) for a in STATE["accounts"].values()])
        return self.answer(404, {})


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--safe", required=True)
    ap.add_argument("--platform", default="P11EnrollPFX")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--ccp-app-id")
    ap.add_argument("--ccp-client-ca")
    ARGS = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        if ARGS.ccp_client_ca:
            # A client certificate is asked for, not required: the PVWA
            # API beside the CCP is used without one.
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(ARGS.ccp_client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
