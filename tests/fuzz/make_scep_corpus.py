#!/usr/bin/env python3
"""Writes the SCEP fuzz harness's deeper seeds into tests/fuzz/corpus/scep/.

tests/fuzz/fuzz_scep.c checks a CertRep against one fixed RSA test key and
its self-signed certificate, which play both the CA and the requester (the
harness's transaction "fuzz-transaction", senderNonce sixteen 0x5a bytes):
seeds signed with that key get past the signature check and reach what
follows it. This script reads the key and certificate from the harness and
builds, with the DER codec of the project's SCEP stub
(tests/stubs/scep_pending_stub.py) and python3-cryptography:

  0x01 + CertRep   SUCCESS (AES-128, AES-256 and, through `openssl cms`,
                   3DES and single-DES envelopes, as scepserver sends),
                   PENDING, FAILURE with each failInfo and a failInfoText;
                   broken ones: wrong transaction, wrong nonce, no or a bad
                   pkiStatus, a success without an envelope, an envelope for
                   another key, no certificate inside, a bad messageDigest,
                   a signature by another key
  0x01 + request   the other pkiMessage types, signed alike: PKCSReq (19),
                   RenewalReq (17), CertPoll/GetCertInitial (20), GetCert
                   (21), GetCRL (22): the decoder must refuse each
  0x00 + GetCACert the certificates in both forms: one DER certificate, and
                   certs-only PKCS#7 with the CA and an RA, with three, and
                   with none

Rerun it only to refresh the seeds (senders' nonces and envelopes are random,
so each run writes other bytes with the same meaning):
    python3 tests/fuzz/make_scep_corpus.py
"""
import datetime
import hashlib
import importlib.util
import os
import re
import secrets
import subprocess
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding as sympad, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "scep")
spec = importlib.util.spec_from_file_location(
    "stub", os.path.join(HERE, "..", "stubs", "scep_pending_stub.py"))
stub = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stub)
seq, set_of, oid, octets, printable, tlv, integer, explicit = (
    stub.seq, stub.set_of, stub.oid, stub.octets, stub.printable, stub.tlv, stub.integer,
    stub.explicit)

# The harness's key and certificate, from its C string literals.
src = open(os.path.join(HERE, "fuzz_scep.c")).read()


def literal(name):
    body = re.search(r"static const char %s\[\] = (.*?);" % name, src, re.S).group(1)
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)).replace("\\n", "\n").encode()


KEY = serialization.load_pem_private_key(literal("test_key"), None)
CERT = x509.load_pem_x509_certificate(literal("test_cert"))
TID = "fuzz-transaction"
NONCE = b"\x5a" * 16
AES256_CBC = "2.16.840.1.101.3.4.1.42"


def new_cert(cn, key, issuer_key, issuer_name=None, ca=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=36500))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(issuer_key, hashes.SHA256())


OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = new_cert("fuzz-other", OTHER_KEY, OTHER_KEY, ca=True)
# What a CA issues for the request's key (the harness's key), by the CA (same key).
ISSUED = new_cert("fuzz-leaf@example.com", KEY, KEY, CERT.subject)
RA = new_cert("fuzz-scep-ra", OTHER_KEY, KEY, CERT.subject)


def envelope(content, recipient, bits=128):
    key, iv = secrets.token_bytes(bits // 8), secrets.token_bytes(16)
    p = sympad.PKCS7(128).padder()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = e.update(p.update(content) + p.finalize()) + e.finalize()
    ri = seq(integer(0), stub.issuer_and_serial(recipient), seq(oid(stub.RSA_ENC), tlv(0x05, b"")),
             octets(recipient.public_key().encrypt(key, padding.PKCS1v15())))
    alg = stub.AES128_CBC if bits == 128 else AES256_CBC
    eci = seq(oid(stub.DATA), seq(oid(alg), octets(iv)), tlv(0x80, ct))
    return seq(oid(stub.ENVELOPED), explicit(0, seq(integer(0), set_of(ri), eci)))


def openssl_envelope(content, cipher):
    """An envelope made by `openssl cms` (3DES, or single DES with the legacy provider)."""
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "in"), "wb").write(content)
        open(os.path.join(d, "r.pem"), "wb").write(CERT.public_bytes(serialization.Encoding.PEM))
        extra = ["-provider", "legacy", "-provider", "default"] if cipher == "-des" else []
        subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", cipher,
                        "-in", os.path.join(d, "in"), "-out", os.path.join(d, "out")] + extra +
                       [os.path.join(d, "r.pem")], check=True)
        return open(os.path.join(d, "out"), "rb").read()


def pki_message(msg_type, content=None, status=None, info=None, text=None, tid=TID,
                nonce=NONCE, key=KEY, signer=CERT, digest=None, extra_attrs=()):
    """A SCEP pkiMessage: SignedData over content (an envelope, or none),
    with SCEP's authenticated attributes, signed by key."""
    attrs = [
        seq(oid(stub.CONTENT_TYPE), set_of(oid(stub.DATA))),
        seq(oid(stub.MESSAGE_DIGEST),
            set_of(octets(digest if digest is not None else
                          hashlib.sha256(content or b"").digest()))),
        seq(oid(stub.MESSAGE_TYPE), set_of(printable(msg_type))),
        seq(oid(stub.TRANSACTION_ID), set_of(printable(tid))),
        seq(oid(stub.SENDER_NONCE), set_of(octets(secrets.token_bytes(16)))),
    ]
    if msg_type == "3":
        attrs.append(seq(oid(stub.RECIPIENT_NONCE), set_of(octets(nonce))))
    if status is not None:
        attrs.append(seq(oid(stub.PKI_STATUS), set_of(printable(status))))
    if info is not None:
        attrs.append(seq(oid(stub.FAIL_INFO), set_of(printable(info))))
    if text is not None:
        attrs.append(seq(oid(stub.FAIL_INFO_TEXT), set_of(tlv(0x0C, text.encode()))))
    attrs.extend(extra_attrs)
    signed = set_of(*attrs)
    sig = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    alg = seq(oid(stub.SHA256), tlv(0x05, b""))
    si = seq(integer(1), stub.issuer_and_serial(signer), alg, b"\xA0" + signed[1:],
             seq(oid(stub.RSA_ENC), tlv(0x05, b"")), octets(sig))
    encap = seq(oid(stub.DATA), explicit(0, octets(content))) if content else seq(oid(stub.DATA))
    sd = seq(integer(1), set_of(alg), encap,
             tlv(0xA0, signer.public_bytes(serialization.Encoding.DER)), set_of(si))
    return seq(oid(stub.SIGNED), explicit(0, sd))


def certs_only(certs):
    return stub.certs_only(certs) if certs else seq(oid(stub.SIGNED), explicit(0, seq(
        integer(1), set_of(), seq(oid(stub.DATA)), set_of())))


def csr_der(key, cn):
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


def write(name, first, der):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(bytes([first]) + der)


def main():
    os.makedirs(OUT, exist_ok=True)
    issued = certs_only([ISSUED, CERT])
    # CertRep: the three statuses.
    write("certrep-success-aes128", 1, pki_message("3", envelope(issued, CERT), "0"))
    write("certrep-success-aes256", 1, pki_message("3", envelope(issued, CERT, 256), "0"))
    write("certrep-success-3des", 1, pki_message("3", openssl_envelope(issued, "-des3"), "0"))
    write("certrep-success-des", 1, pki_message("3", openssl_envelope(issued, "-des"), "0"))
    write("certrep-pending", 1, pki_message("3", None, "3"))
    for info, what in enumerate(["badalg", "badmessagecheck", "badrequest", "badtime",
                                 "badcertid"]):
        write("certrep-failure-" + what, 1,
              pki_message("3", None, "2", str(info),
                          "refused: " + what if info == 2 else None))
    write("certrep-failure-no-failinfo", 1, pki_message("3", None, "2"))
    write("certrep-failure-text-escape", 1,
          pki_message("3", None, "2", "2", "wrong challenge \x1b[31mpassword\x1b[0m"))
    # CertRep: what the decoder must refuse after the signature.
    write("certrep-wrong-transaction", 1, pki_message("3", None, "3", tid="another"))
    write("certrep-wrong-nonce", 1, pki_message("3", None, "3", nonce=b"\x00" * 16))
    write("certrep-no-status", 1, pki_message("3", None, None))
    write("certrep-bad-status", 1, pki_message("3", None, "9"))
    write("certrep-success-no-envelope", 1, pki_message("3", issued, "0"))
    write("certrep-success-other-recipient", 1, pki_message("3", envelope(issued, OTHER), "0"))
    write("certrep-success-no-certificate", 1,
          pki_message("3", envelope(certs_only([]), CERT), "0"))
    write("certrep-success-not-pkcs7-inside", 1,
          pki_message("3", envelope(b"not a certificate", CERT), "0"))
    write("certrep-bad-digest", 1, pki_message("3", None, "3", digest=b"\x00" * 32))
    write("certrep-other-signer", 1, pki_message("3", None, "3", key=OTHER_KEY, signer=OTHER))
    # The request types, signed alike.
    challenge = seq(oid(stub.CHALLENGE), set_of(printable("challenge")))
    pkcsreq = envelope(csr_der(KEY, "fuzz-leaf@example.com"), CERT)
    write("request-pkcsreq", 1, pki_message("19", pkcsreq, extra_attrs=[challenge]))
    write("request-renewalreq", 1, pki_message("17", pkcsreq))
    ias = seq(CERT.subject.public_bytes(), ISSUED.subject.public_bytes())
    write("request-certpoll", 1, pki_message("20", envelope(ias, CERT)))
    write("request-getcert", 1, pki_message("21", envelope(stub.issuer_and_serial(ISSUED), CERT)))
    write("request-getcrl", 1, pki_message("22", envelope(stub.issuer_and_serial(CERT), CERT)))
    # GetCACert in both forms.
    write("getcacert-der-only", 0, CERT.public_bytes(serialization.Encoding.DER))
    write("getcacert-p7-ca-ra", 0, certs_only([CERT, RA]))
    write("getcacert-p7-three", 0, certs_only([CERT, RA, OTHER]))
    write("getcacert-p7-empty", 0, certs_only([]))
    write("getcacert-pem", 0, CERT.public_bytes(serialization.Encoding.PEM))


if __name__ == "__main__":
    sys.exit(main())
