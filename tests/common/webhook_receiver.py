"""A webhook receiver for the tests: verifies every request with the reference Standard Webhooks
library, answers 204 (or 400 when it does not verify), and appends each verified event as one
JSON line {"id", "timestamp", "signatures", "event"} to the events file.

usage: webhook_receiver.py PORT SECRET EVENTS_FILE
Prints "listening PORT" once it accepts connections.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

PORT, SECRET, EVENTS = int(sys.argv[1]), sys.argv[2], sys.argv[3]
HOOK = Webhook(SECRET)
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            event = HOOK.verify(body, headers)
        except Exception as e:  # noqa: BLE001 - any failure is a 400
            sys.stderr.write(f"refused: {e}\n")
            self.send_response(400)
            self.end_headers()
            return
        line = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signatures": len(headers.get("webhook-signature", "").split()),
            "content_type": headers.get("content-type"),
            "event": event,
            "body": body,
        }
        with LOCK, open(EVENTS, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
