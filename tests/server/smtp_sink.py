#!/usr/bin/python3
"""smtp_sink.py PORT_FILE MAILDIR [--port N] [--cert C --key K] - a real SMTP
server on 127.0.0.1 (Debian's python3-aiosmtpd) that stores every message
it accepts as MAILDIR/<n>.eml (written, then renamed: a reader never sees
half a message).

With --cert and --key it offers STARTTLS and refuses MAIL before it
(require_starttls): what escrowd must use.  Without, it offers no STARTTLS
at all: a relay escrowd must refuse to send to in clear.  --port reuses a
port (a restarted relay); the chosen port is written to PORT_FILE."""
import argparse
import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP

ap = argparse.ArgumentParser()
ap.add_argument("port_file")
ap.add_argument("maildir")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--cert")
ap.add_argument("--key")
a = ap.parse_args()
os.makedirs(a.maildir, exist_ok=True)
counter = itertools.count(len(os.listdir(a.maildir)))


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        tmp = os.path.join(a.maildir, ".%d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(b"X-Sink-Rcpt: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(b"X-Sink-TLS: " + (b"yes" if session.ssl else b"no") + b"\r\n")
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(a.maildir, "%04d.eml" % n))
        return "250 OK"


def factory():
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        return SMTP(Handler(), tls_context=ctx, require_starttls=True, hostname="sink.test")
    return SMTP(Handler(), hostname="sink.test")


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", a.port, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(a.port_file + ".tmp", a.port_file)
    await server.serve_forever()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(0)
