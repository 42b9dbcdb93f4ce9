#!/usr/bin/env python3
"""A stub of DigiCert CertCentral's Services API v2, for the tests only.

No DigiCert server can be had in a test, so this stands in for the part of
CertCentral that p11enroll's "digicert" backend uses, as the CertCentral
documentation describes it (https://dev.digicert.com/certcentral-apis/):

  POST /services/v2/order/certificate/{product_name_id}   order, with certificate.csr
  GET  /services/v2/order/certificate/{order_id}          order info: status, certificate.id
  GET  /services/v2/order/certificate?filters[search]=... list orders
  GET  /services/v2/certificate/{id}/download/format/pem_all   leaf, intermediate, root
  PUT  /services/v2/certificate/{id or serial}/revoke     a revocation request: "comments",
                                                          "skip_approval"; 201 {"id", "date",
                                                          "type": "revoke", "status"}
  POST /services/v2/order/certificate/{order_id}/reissue  "Reissue certificate": certificate.csr;
                                                          201 {"id": order_id, "requests": [...]},
                                                          with certificate_chain when issued at once
  GET  /services/v2/order/certificate/{order_id}/reissue  "List reissues": {"certificates":
                                                          [{"id", "status", "csr", ...}]}

A reissue is pending (pending_polls, reject and immediate apply to it as to
an order, counted by "List reissues" requests); the order keeps its issued
certificate until the reissue is issued, then its certificate is the new one.
Only an issued order is reissued (an order with another status answers 400).

Every request needs the X-DC-DEVKEY header with the API key (401 and a
CertCentral error body otherwise); errors are {"errors":[{"code","message"}]}.
Issued certificates are real: signed by a local intermediate under a local
root (python3-cryptography), S/MIME (emailProtection, the rfc822Names of the
order), key usage after the order's usage_designation.

It is a stub, not DigiCert: it keeps its orders in DIR/orders.json (so a
restarted stub still knows them), and DIR/mode.json, read on every request,
tells it how to behave with the orders placed from then on and with the next
requests:

  {"pending_polls": N}   a new order answers "pending" to N order-info requests, then is issued
  {"reject": "why"}      a new order is rejected (after pending_polls) with this processor_comment
  {"immediate": true}    the order's answer carries certificate_chain (issued at once)
  {"fail_next": N}       the next N requests answer HTTP 500 (counted down in mode.json)
  {"fail_after_create": N}  the next N orders are created, then answered with HTTP 500
  {"delay": S}           every request waits S seconds before it is answered
  {"delay_order": S}     an order is created, then answered S seconds later
  {"reissue_answer": {"status": N, "body": B}}  a reissue is answered so, and not made
                         (hostile answers: B any JSON value, or a string sent as it is)

Usage: digicert_stub.py --dir DIR --api-key-file FILE [--port N]
It listens on 127.0.0.1 (port 0: a free one) and writes the port to DIR/port.
Each request is logged to DIR/requests.log (method, path, status; never a
header).
"""
import argparse
import datetime
import hmac
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PREFIX = "/services/v2"
PRODUCTS = {
    "secure_email_mailbox": ("Secure Email for Individual Mailbox", False),
    "secure_email_sponsor": ("Secure Email for Employee", True),
    "secure_email_organization": ("Secure Email for Organization", True),
    "client_premium": ("Premium", False),
}
USAGES = ("signing", "key_management", "dual_use")
lock = threading.Lock()


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def write_atomic(path, data, mode=0o600):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class CA:
    """A root and an issuing intermediate, made once and kept in DIR."""

    def __init__(self, d):
        self.root_key, self.root = self._load_or_make(d, "root", None, None)
        self.int_key, self.int = self._load_or_make(d, "intermediate", self.root_key, self.root)

    @staticmethod
    def _load_or_make(d, name, issuer_key, issuer):
        kp, cp = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
        if os.path.exists(kp) and os.path.exists(cp):
            with open(kp, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
            with open(cp, "rb") as f:
                return key, x509.load_pem_x509_certificate(f.read())
        key = ec.generate_private_key(ec.SECP256R1())
        cn = "DigiCert Stub Root CA" if issuer is None else "DigiCert Stub Secure Email CA"
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stub Test"),
                             x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        b = (x509.CertificateBuilder()
             .subject_name(subject)
             .issuer_name(subject if issuer is None else issuer.subject)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now() - datetime.timedelta(days=1))
             .not_valid_after(now() + datetime.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
                            critical=True)
             .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                            critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer is not None:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        cert = b.sign(key if issuer_key is None else issuer_key, hashes.SHA256())
        write_atomic(kp, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode())
        write_atomic(cp, cert.public_bytes(serialization.Encoding.PEM).decode(), 0o644)
        return key, cert

    def issue(self, order):
        csr = x509.load_pem_x509_csr(order["certificate"]["csr"].encode())
        pub = csr.public_key()
        usage = order["certificate"].get("usage_designation", {}).get("primary_usage", "dual_use")
        sign = usage in ("signing", "dual_use")
        manage = usage in ("key_management", "dual_use")
        is_rsa = isinstance(pub, rsa.RSAPublicKey)
        is_ec = isinstance(pub, ec.EllipticCurvePublicKey)
        ku = x509.KeyUsage(digital_signature=sign, content_commitment=False,
                           key_encipherment=manage and is_rsa, data_encipherment=False,
                           key_agreement=manage and is_ec, key_cert_sign=False, crl_sign=False,
                           encipher_only=False, decipher_only=False)
        emails = order["certificate"]["emails"]
        cn = emails[0]
        if order["certificate"].get("common_name_indicator") != "email_address":
            names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            cn = names[0].value if names else emails[0]
        days = order["validity_days"]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                                         x509.NameAttribute(NameOID.EMAIL_ADDRESS, emails[0])]))
                .issuer_name(self.int.subject)
                .public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now() - datetime.timedelta(minutes=5))
                .not_valid_after(now() + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(ku, critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(e) for e in emails]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.int_key.public_key()),
                               critical=False)
                .sign(self.int_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def pem(self, which):
        return (self.root if which == "root" else self.int).public_bytes(serialization.Encoding.PEM).decode()


class Stub:
    def __init__(self, d, api_key):
        self.dir = d
        self.api_key = api_key
        self.ca = CA(d)
        self.orders_path = os.path.join(d, "orders.json")
        self.mode_path = os.path.join(d, "mode.json")
        self.orders = {"next_id": 1000001, "orders": []}
        if os.path.exists(self.orders_path):
            with open(self.orders_path) as f:
                self.orders = json.load(f)

    def save(self):
        write_atomic(self.orders_path, json.dumps(self.orders, indent=1))

    def mode(self):
        try:
            with open(self.mode_path) as f:
                return json.load(f) or {}
        except (OSError, ValueError):
            return {}

    def count_down(self, key):
        """Takes one from mode[key] if it is above 0; whether it was."""
        m = self.mode()
        if int(m.get(key, 0) or 0) <= 0:
            return False
        m[key] = int(m[key]) - 1
        write_atomic(self.mode_path, json.dumps(m))
        return True

    def new_id(self):
        i = self.orders["next_id"]
        self.orders["next_id"] = i + 1
        return i

    def find(self, order_id):
        for o in self.orders["orders"]:
            if o["id"] == order_id:
                return o
        return None

    def find_cert(self, cert_id):
        for o in self.orders["orders"]:
            if o["certificate"].get("id") == cert_id:
                return o
        return None

    def issue(self, o):
        o["certificate"]["id"] = self.new_id()
        o["cert_pem"] = self.ca.issue(o)
        o["status"] = "issued"
        o["requests"][0]["status"] = "approved"
        o["date_issued"] = now().isoformat()

    def issue_reissue(self, o, r):
        """The reissue issued: the order's certificate is now the new one."""
        o["certificate"]["csr"] = r["csr"]
        o["certificate"]["id"] = r["id"]
        o["cert_pem"] = self.ca.issue(o)
        r["serial_number"] = "%X" % x509.load_pem_x509_certificate(o["cert_pem"].encode()).serial_number
        r["status"] = "issued"
        r["date_issued"] = now().isoformat()

    def chain(self, o, with_root=True):
        out = [(o["certificate"]["emails"][0], o["cert_pem"]),
               (self.ca.int.subject.rfc4514_string(), self.ca.pem("int"))]
        if with_root:
            out.append((self.ca.root.subject.rfc4514_string(), self.ca.pem("root")))
        return out


def error(code, message):
    return {"errors": [{"code": code, "message": message}]}


class Handler(BaseHTTPRequestHandler):
    server_version = "CertCentralStub/1.0"
    stub = None  # set in main

    def log_message(self, fmt, *args):  # no stderr noise, and never headers
        pass

    def log(self, status):
        with open(os.path.join(self.stub.dir, "requests.log"), "a") as f:
            f.write("%s %s %s %d\n" % (now().strftime("%H:%M:%S.%f"), self.command, self.path, status))

    def answer(self, status, body, ctype="application/json", headers=None):
        data = (json.dumps(body) if ctype == "application/json" else body).encode()
        self.log(status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def dispatch(self):
        stub = self.stub
        mode = stub.mode()
        if mode.get("delay"):
            time.sleep(float(mode["delay"]))
        with lock:
            failing = stub.count_down("fail_next")
        if failing:
            return self.answer(500, error("internal_error", "stub: an injected internal server error"))
        key = self.headers.get("X-DC-DEVKEY")
        if key is None:
            return self.answer(401, error("access_denied", "No API key was given (X-DC-DEVKEY header)."))
        if not hmac.compare_digest(key.encode(), stub.api_key.encode()):
            return self.answer(401, error("access_denied", "The API key is not valid or has been revoked."))
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if not path.startswith(PREFIX + "/"):
            return self.answer(404, error("not_found", "No such endpoint."))
        parts = path[len(PREFIX) + 1:].split("/")
        query = urllib.parse.parse_qs(url.query)
        if self.command == "POST" and len(parts) == 3 and parts[:2] == ["order", "certificate"]:
            return self.order(parts[2], mode)
        if len(parts) == 4 and parts[:2] == ["order", "certificate"] and parts[3] == "reissue":
            if self.command == "POST":
                return self.reissue(parts[2], mode)
            if self.command == "GET":
                return self.list_reissues(parts[2])
        if self.command == "GET" and parts == ["order", "certificate"]:
            return self.list_orders(query)
        if self.command == "GET" and len(parts) == 3 and parts[:2] == ["order", "certificate"]:
            return self.order_info(parts[2])
        if (self.command == "GET" and len(parts) == 5 and parts[0] == "certificate"
                and parts[2:4] == ["download", "format"]):
            return self.download(parts[1], parts[4])
        if self.command == "PUT" and len(parts) == 3 and parts[0] == "certificate" and parts[2] == "revoke":
            return self.revoke(parts[1])
        return self.answer(404, error("not_found", "No such endpoint."))

    def revoke(self, ident):
        """A revocation request for one certificate, by its id or its serial
        number (hex, any case). Pending an administrator's approval unless
        skip_approval; the order then says "revoked"."""
        stub = self.stub
        req = self.body()
        if not isinstance(req, dict):
            return self.answer(400, error("invalid_json", "The request body is not a JSON object."))
        with lock:
            target = None
            for o in stub.orders["orders"]:
                if "cert_pem" not in o:
                    continue
                cert = x509.load_pem_x509_certificate(o["cert_pem"].encode())
                if (ident.isdigit() and o["certificate"].get("id") == int(ident)) or \
                        ident.lower() == "%x" % cert.serial_number or \
                        ident.lower().lstrip("0") == ("%x" % cert.serial_number).lstrip("0"):
                    target = o
                    break
            if target is None:
                return self.answer(404, error("not_found", "Certificate not found."))
            if target["status"] == "revoked":
                return self.answer(400, error("invalid_status", "The certificate is already revoked."))
            status = "approved" if req.get("skip_approval") is True else "pending"
            if status == "approved":
                target["status"] = "revoked"
            target.setdefault("revocations", []).append(
                {"comments": req.get("comments", ""), "status": status})
            rid = stub.new_id()
            stub.save()
        return self.answer(201, {"id": rid, "date": now().isoformat(), "type": "revoke",
                                 "status": status, "comments": req.get("comments", "")})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            return None

    def order(self, product, mode):
        stub = self.stub
        req = self.body()
        if not isinstance(req, dict):
            return self.answer(400, error("invalid_json", "The request body is not a JSON object."))
        if product not in PRODUCTS:
            return self.answer(400, error("invalid_product", "Unknown product name id '%s'." % product))
        name, needs_org = PRODUCTS[product]
        cert = req.get("certificate") or {}
        if not cert.get("csr"):
            return self.answer(400, error("missing_param", "certificate.csr is required."))
        try:
            csr = x509.load_pem_x509_csr(cert["csr"].encode())
            if not csr.is_signature_valid:
                raise ValueError("bad signature")
        except ValueError:
            return self.answer(400, error("invalid_csr", "The CSR could not be read or its signature is invalid."))
        emails = cert.get("emails")
        if not isinstance(emails, list) or not emails:
            return self.answer(400, error("missing_param", "certificate.emails is required."))
        try:
            san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            csr_emails = [e.lower() for e in san.get_values_for_type(x509.RFC822Name)]
        except x509.ExtensionNotFound:
            csr_emails = []
        if any(e.lower() not in csr_emails for e in emails):
            return self.answer(400, error("invalid_email", "certificate.emails must be the CSR's email addresses."))
        usage = (cert.get("usage_designation") or {}).get("primary_usage", "dual_use")
        if usage not in USAGES:
            return self.answer(400, error("invalid_usage_designation", "primary_usage '%s' is unknown." % usage))
        if isinstance(csr.public_key(), ed25519.Ed25519PublicKey) and usage != "signing":
            return self.answer(400, error("invalid_key_type", "An Ed25519 key can only be used for signing."))
        if needs_org and not (req.get("organization") or {}).get("id"):
            return self.answer(400, error("missing_param", "organization.id is required for %s." % product))
        validity = req.get("order_validity") or {}
        days = int(validity.get("days") or 365 * int(validity.get("years") or 1))
        with lock:
            order = {
                "id": stub.new_id(),
                "product": {"name_id": product, "name": name, "type": "client_certificate"},
                "certificate": {"common_name": emails[0], "emails": emails, "csr": cert["csr"],
                                "signature_hash": cert.get("signature_hash", "sha256"),
                                "usage_designation": {"primary_usage": usage},
                                "common_name_indicator": cert.get("common_name_indicator")},
                "status": "pending",
                "date_created": now().isoformat(),
                "validity_days": days,
                "comments": req.get("comments", ""),
                "requests": [{"id": stub.new_id(), "date": now().isoformat(), "type": "new_request",
                              "status": "pending"}],
                "polls_left": int(mode.get("pending_polls", 0) or 0),
                "reject": mode.get("reject"),
            }
            if req.get("organization"):
                order["organization"] = {"id": req["organization"].get("id")}
            stub.orders["orders"].append(order)
            immediate = mode.get("immediate") and not order["reject"]
            if immediate:
                stub.issue(order)
            stub.save()
            fail = stub.count_down("fail_after_create")
        if mode.get("delay_order"):
            time.sleep(float(mode["delay_order"]))
        if fail:
            return self.answer(500, error("internal_error", "stub: the order was taken, then the server failed"))
        if immediate:
            chain = [{"subject_common_name": cn, "pem": pem} for cn, pem in stub.chain(order)]
            return self.answer(201, {"id": order["id"], "certificate_id": order["certificate"]["id"],
                                     "certificate_chain": chain})
        return self.answer(201, {"id": order["id"],
                                 "requests": [{"id": order["requests"][0]["id"], "status": "pending"}]})

    def reissue(self, order_id, mode):
        """Reissue certificate: the order's certificate again, for a new CSR."""
        stub = self.stub
        req = self.body()
        hostile = mode.get("reissue_answer")
        if isinstance(hostile, dict):
            body = hostile.get("body")
            if isinstance(body, str):
                return self.answer(int(hostile.get("status", 200)), body, "text/plain")
            return self.answer(int(hostile.get("status", 200)), body)
        if not isinstance(req, dict):
            return self.answer(400, error("invalid_json", "The request body is not a JSON object."))
        csr_pem = (req.get("certificate") or {}).get("csr")
        if not isinstance(csr_pem, str) or not csr_pem:
            return self.answer(400, error("missing_param", "certificate.csr is required."))
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
            if not csr.is_signature_valid:
                raise ValueError("bad signature")
        except ValueError:
            return self.answer(400, error("invalid_csr", "The CSR could not be read or its signature is invalid."))
        with lock:
            o = stub.find(int(order_id)) if order_id.isdigit() else None
            if o is None:
                return self.answer(404, error("not_found", "Order %s was not found." % order_id))
            if o["status"] != "issued":
                return self.answer(400, error("invalid_order_status",
                                              "Order %s is %s and cannot be reissued." % (order_id, o["status"])))
            r = {"id": stub.new_id(), "status": "pending", "csr": csr_pem, "date_created": now().isoformat(),
                 "polls_left": int(mode.get("pending_polls", 0) or 0), "reject": mode.get("reject")}
            o.setdefault("reissues", []).append(r)
            rid = stub.new_id()
            immediate = mode.get("immediate") and not r["reject"]
            if immediate:
                stub.issue_reissue(o, r)
            stub.save()
            fail = stub.count_down("fail_after_create")
        if fail:
            return self.answer(500, error("internal_error", "stub: the reissue was taken, then the server failed"))
        body = {"id": o["id"], "requests": [{"id": rid, "status": "pending"}]}
        if immediate:
            body = {"id": o["id"], "certificate_chain": [{"subject_common_name": cn, "pem": pem}
                                                         for cn, pem in stub.chain(o)]}
        return self.answer(201, body)

    def list_reissues(self, order_id):
        """List reissues: each pending one counts down to its issue (or rejection)."""
        stub = self.stub
        with lock:
            o = stub.find(int(order_id)) if order_id.isdigit() else None
            if o is None:
                return self.answer(404, error("not_found", "Order %s was not found." % order_id))
            out = []
            for r in o.get("reissues", []):
                if r["status"] == "pending":
                    if r["polls_left"] > 0:
                        r["polls_left"] -= 1
                    elif r["reject"]:
                        r["status"] = "rejected"
                    else:
                        stub.issue_reissue(o, r)
                c = {"id": r["id"], "status": r["status"], "csr": r["csr"], "date_created": r["date_created"]}
                if "date_issued" in r:
                    c["date_issued"] = r["date_issued"]
                    c["serial_number"] = r["serial_number"]
                out.append(c)
            stub.save()
            return self.answer(200, {"certificates": out})

    def summary(self, o, full):
        cert = {k: v for k, v in o["certificate"].items() if v is not None and (full or k != "csr")}
        s = {"id": o["id"], "certificate": cert, "status": o["status"], "date_created": o["date_created"],
             "product": o["product"], "is_renewal": False}
        if full:
            s["requests"] = o["requests"]
            s["comments"] = o["comments"]
            s["order_validity"] = {"days": o["validity_days"]}
            if "organization" in o:
                s["organization"] = o["organization"]
        return s

    def order_info(self, order_id):
        stub = self.stub
        with lock:
            o = stub.find(int(order_id)) if order_id.isdigit() else None
            if o is None:
                return self.answer(404, error("not_found", "Order %s was not found." % order_id))
            if o["status"] == "pending":
                if o["polls_left"] > 0:
                    o["polls_left"] -= 1
                elif o["reject"]:
                    o["status"] = "rejected"
                    o["requests"][0]["status"] = "rejected"
                    o["requests"][0]["processor_comment"] = o["reject"]
                else:
                    stub.issue(o)
                stub.save()
            return self.answer(200, self.summary(o, True))

    def list_orders(self, query):
        stub = self.stub
        q = lambda k: (query.get(k) or [None])[0]
        search, status, product = q("filters[search]"), q("filters[status]"), q("filters[product_name_id]")
        limit, offset = int(q("limit") or 1000), int(q("offset") or 0)
        with lock:
            found = []
            for o in stub.orders["orders"]:
                hay = [str(o["id"]), o["certificate"]["common_name"]] + o["certificate"]["emails"]
                if search and not any(search.lower() in h.lower() for h in hay):
                    continue
                if status and o["status"] != status:
                    continue
                if product and o["product"]["name_id"] != product:
                    continue
                found.append(o)
            sort = q("sort") or "id"
            found.sort(key=lambda o: (o["date_created"], o["id"]) if "date_created" in sort else o["id"],
                       reverse=sort.startswith("-"))
            page = [self.summary(o, False) for o in found[offset:offset + limit]]
            return self.answer(200, {"orders": page, "page": {"total": len(found), "limit": limit, "offset": offset}})

    def download(self, cert_id, fmt):
        stub = self.stub
        with lock:
            o = stub.find_cert(int(cert_id)) if cert_id.isdigit() else None
            if o is None or o["status"] != "issued":
                return self.answer(404, error("not_found", "Certificate %s was not found." % cert_id))
            if fmt not in ("pem_all", "pem_noroot"):
                return self.answer(400, error("invalid_format", "Format '%s' is not offered here." % fmt))
            pems = [pem for _, pem in stub.chain(o, fmt == "pem_all")]
            return self.answer(200, "".join(pems), "application/x-pem-file")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--api-key-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    with open(a.api_key_file) as f:
        api_key = f.readline().strip()
    Handler.stub = Stub(a.dir, api_key)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    httpd = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    write_atomic(os.path.join(a.dir, "port"), "%d\n" % httpd.server_address[1], 0o644)
    httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
