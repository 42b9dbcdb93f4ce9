#!/usr/bin/env python3
"""A stub of a broken or hostile CMP server (RFC 6712 transport), for the tests only.

Debian's `openssl cmp` mock server can refuse, answer "waiting", send error
messages or unprotected answers, but always sends well-formed HTTP and DER.
This stub answers every POST by its path with what no real server should:

  /ctype       a real PKIMessage (--answer) with Content-Type text/html
  /truncated   the first half of it, Content-Type application/pkixcmp
  /oversized   72 KiB of DER-looking bytes (more than the client reads)
  /other       the whole real PKIMessage: a transaction the client never began
  /garbage     an HTML error page as application/pkixcmp
  /500         HTTP 500
  /hang        nothing for 60 s (the client's timeout)

Each request is logged to --log as one line "PATH BYTES".
It binds 127.0.0.1 on --port (0: the kernel picks; the port is written to
--port-file).
"""
import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--answer", required=True)
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    answer = open(args.answer, "rb").read()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, status, ctype, body):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(n)
            with open(args.log, "a") as f:
                f.write("%s %d\n" % (self.path, n))
            p = self.path.rstrip("/")
            if p == "/ctype":
                self.send(200, "text/html", answer)
            elif p == "/truncated":
                self.send(200, "application/pkixcmp", answer[: len(answer) // 2])
            elif p == "/oversized":
                body = b"\x30\x84\x00\x01\x20\x00" + b"\x00" * (72 * 1024)
                self.send(200, "application/pkixcmp", body)
            elif p == "/other":
                self.send(200, "application/pkixcmp", answer)
            elif p == "/hang":
                time.sleep(60)
                self.send(500, "text/plain", b"too late")
            elif p == "/garbage":
                self.send(200, "application/pkixcmp", b"<html>Service Unavailable</html>")
            else:
                self.send(500, "text/plain", b"internal error")

    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    with open(args.port_file, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


if __name__ == "__main__":
    main()
