#!/usr/bin/env python3
"""tty_type.py INPUT TRANSCRIPT -- COMMAND [ARG...]

Run COMMAND on a fresh pseudo-terminal (its stdin, stdout, stderr and
controlling terminal, so /dev/tty is that terminal too), type the first line
of INPUT once COMMAND has printed something (a prompt), and write everything
the terminal showed (prompts and echo) to TRANSCRIPT.  Exit with COMMAND's
status.  A COMMAND still running 5 seconds after the line gets an end of file
(^D), then SIGKILL after 5 more: a test of a command that reads to the end of
the input instead of one line then fails rather than hangs."""
import os
import pty
import select
import signal
import sys
import time


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        line = f.readline().rstrip(b"\r\n") + b"\n"
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(sys.argv[4], sys.argv[4:])
    shown = b""
    typed_at = None
    eof_sent = False
    while True:
        if typed_at is None and shown:
            time.sleep(0.2)  # let the prompt's terminal settings take effect
            os.write(fd, line)
            typed_at = time.monotonic()
        elif typed_at is not None and not eof_sent and time.monotonic() - typed_at > 5:
            os.write(fd, b"\x04")
            eof_sent = True
        elif eof_sent and time.monotonic() - typed_at > 10:
            os.kill(pid, signal.SIGKILL)
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the command closed the terminal
                data = b""
            if not data:
                break
            shown += data
    _, status = os.waitpid(pid, 0)
    with open(sys.argv[2], "wb") as f:
        f.write(shown)
    sys.exit(os.waitstatus_to_exitcode(status) if status else 0)


main()
