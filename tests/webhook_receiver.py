"""A shop's webhook endpoint for tests: a real HTTP server on localhost that verifies
every signature and records the bodies; it can be switched 'down' (answers 503)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobs.webhooks import SIGNATURE_HEADER, verify_signature


class Receiver:
    """A shop's webhook endpoint on localhost: records verified bodies; can be 'down'."""

    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.up = True
        self.now: float | None = None  # the receiver's clock (None: real time)
        self.received: list[dict] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not receiver.up:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                ok = verify_signature(receiver.secret, self.headers[SIGNATURE_HEADER], body,
                                      now=receiver.now)
                if ok:
                    receiver.received.append(json.loads(body))
                self.send_response(204 if ok else 400)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/penpost"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
