"""A real HTTP receiver on 127.0.0.1 for the webhook tests (alerts, the CRM): every accepted POST is
kept with its headers; ``fail_next`` lists statuses to answer (and not keep) before accepting again."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    url: str
    posts: list[tuple[dict, object]] = field(default_factory=list)  # (headers, JSON body) of each accepted POST
    bodies: list = field(default_factory=list)  # the JSON body of each accepted POST
    fail_next: list[int] = field(default_factory=list)


@contextlib.contextmanager
def http_receiver(path: str = "/") -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_port}{path}")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                status = receiver.fail_next.pop(0) if receiver.fail_next else 200
                if status == 200:
                    receiver.posts.append((dict(self.headers), body))
                    receiver.bodies.append(body)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
