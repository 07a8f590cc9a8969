"""A stand-in SMS gateway and credit bureau for tests: a real HTTP server on loopback.

Run as ``python loopback_server.py PORT``. Its behaviour is switched over HTTP, so a test
can take "the gateway" down and bring it back up:
- ``POST /sms``: ``ok`` → 200 ``{"message_id"}``; ``down`` → 503; ``reject`` → 400 with a code.
- ``POST /bureau``: ``ok`` → 200 report; ``slow`` → answers after 3 s; ``error`` → 500.
- ``POST /_mode`` ``{"sms": ..., "bureau": ...}``; ``GET /_received`` → the requests so far.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE: dict[str, object] = {"sms": "ok", "bureau": "ok", "received": [], "refused": []}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, object]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        if self.path == "/_received":
            with LOCK:
                self._reply(200, {"received": STATE["received"], "refused": STATE["refused"]})
        else:
            self._reply(404, {"message": "no such path"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/_mode":
            with LOCK:
                STATE.update({k: v for k, v in body.items() if k in ("sms", "bureau")})
            self._reply(200, {"sms": STATE["sms"], "bureau": STATE["bureau"]})
            return
        record = {"path": self.path, "body": body, "authorization": self.headers.get("Authorization", "")}
        if self.path == "/sms":
            mode = STATE["sms"]
            if mode == "down":
                with LOCK:
                    STATE["refused"].append(record)  # type: ignore[attr-defined]
                self._reply(503, {"message": "service unavailable"})
            elif mode == "reject":
                self._reply(400, {"code": "isv.MOBILE_NUMBER_ILLEGAL", "message": "非法手机号"})
            else:
                with LOCK:
                    STATE["received"].append(record)  # type: ignore[attr-defined]
                    n = len(STATE["received"])  # type: ignore[arg-type]
                self._reply(200, {"message_id": f"gw-{n}"})
            return
        if self.path == "/bureau":
            mode = STATE["bureau"]
            with LOCK:
                STATE["received"].append(record)  # type: ignore[attr-defined]
            if mode == "slow":
                time.sleep(3)
            if mode == "error":
                self._reply(500, {"message": "征信系统繁忙"})
                return
            self._reply(
                200,
                {
                    "report_id": f"PBOC-{body.get('application_id', 'x')}",
                    "summary": {"score": "682", "overdue_accounts": "0", "queries_6m": "2"},
                    "document_ref": f"bureau://reports/{body.get('application_id', 'x')}",
                },
            )
            return
        self._reply(404, {"message": "no such path"})


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
