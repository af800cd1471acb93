#!/usr/bin/env python3
"""The loopback scrape target of `make dist-test`: usage: dist-target.py PORT FILE

Serves FILE, a metrics text, on 127.0.0.1:PORT at /metrics (plain) and at
/metrics.gz (the same bytes gzipped, with `Content-Encoding: gzip`, as an
exporter answers a scraper that accepts gzip), so the emulated binaries run
their inflate path too.
"""

import gzip
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def handler(body):
    """A request handler class answering with `body`."""
    packed = gzip.compress(body)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/metrics":
                self.answer(body, None)
            elif self.path == "/metrics.gz":
                self.answer(packed, "gzip")
            else:
                self.send_error(404)

        def answer(self, payload, encoding):
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "rb") as f:
        body = f.read()
    ThreadingHTTPServer(("127.0.0.1", port), handler(body)).serve_forever()


if __name__ == "__main__":
    main()
