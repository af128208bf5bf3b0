#!/usr/bin/env python3
"""t_retrieval_badqueue.py PORT_FILE UPSTREAM - a hostile server for a policy
custodian: a proxy on 127.0.0.1 to the real escrowd at UPSTREAM that adds
request ids of the wrong form to the front of every pending-queue answer
(a path, a header injection, upper case, too long).  Writes its port to
PORT_FILE."""
import http.client
import http.server
import json
import os
import sys
import urllib.parse

port_file, upstream = sys.argv[1], urllib.parse.urlsplit(sys.argv[2])
BAD = ["req-../../../../etc/passwd", "req-aaaa\r\nX-Injected: 1", "req-" + "A" * 26,
       "req-" + "a" * 27, "", 7]


class H(http.server.BaseHTTPRequestHandler):
    def forward(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else None
        hdrs = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        c = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        if self.command == "GET" and self.path.startswith("/v1/retrievals?") and r.status == 200:
            j = json.loads(data)
            j["retrievals"] = [{"request_id": b} for b in BAD] + j["retrievals"]
            data = json.dumps(j).encode()
        self.send_response(r.status)
        self.send_header("Content-Type", r.getheader("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = forward

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
