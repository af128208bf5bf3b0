#!/usr/bin/env python3
"""tty_run.py SECRET CMD ARGS... - run CMD on a pseudo-terminal, type SECRET
and a newline once it prompts for "recovery secret", and print everything
the terminal showed.  Exits with CMD's status.  (The agent must not echo a
secret typed at a terminal.)"""
import os
import pty
import sys

secret = sys.argv[1].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
seen, typed = b"", False
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    seen += data
    if not typed and b"recovery secret" in seen:
        os.write(fd, secret + b"\n")
        typed = True
sys.stdout.buffer.write(seen)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
