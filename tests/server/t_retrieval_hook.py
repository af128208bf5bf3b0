#!/usr/bin/env python3
"""t_retrieval_hook.py PORT_FILE LOG_FILE - a webhook receiver on 127.0.0.1.

Writes its port to PORT_FILE, answers the first POST with 500 (so that the
sender must retry) and the others with 204, except that a POST to /fail...
always gets 500 (a channel that stays down); appends one JSON line per
POST to LOG_FILE: the headers that matter, the body as received and the
time (seconds).  GETs
of /itsm/ok?... answer 200, other GETs 404 (a policy custodian's ITSM
check)."""
import http.server
import json
import sys
import time

port_file, log_file = sys.argv[1], sys.argv[2]
seen = [0]


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        if self.path.startswith("/fail"):
            status = 500
        else:
            seen[0] += 1
            status = 500 if seen[0] == 1 else 204
        with open(log_file, "a") as f:
            f.write(json.dumps({"sig": self.headers.get("X-KE-Signature"),
                                "event": self.headers.get("X-KE-Event"),
                                "delivery": self.headers.get("X-KE-Delivery"),
                                "status": status,
                                "path": self.path,
                                "t": time.time(),
                                "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # An ITSM ticket check: /itsm/ok answers 200, anything else 404.
    def do_GET(self):
        with open(log_file, "a") as f:
            f.write(json.dumps({"get": self.path}) + "\n")
        self.send_response(200 if self.path.startswith("/itsm/ok?") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
