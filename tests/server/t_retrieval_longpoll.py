#!/usr/bin/env python3
"""t_retrieval_longpoll.py PORT TOKEN REQUEST N PID READY_FILE

Opens N connections to escrowd, each a long-poll GET /v1/retrievals/REQUEST
?wait=60&since=0.  Once every request is sent and none has been answered for
three seconds (they are suspended), writes READY_FILE; then waits for all N
answers (the test adds a part) and checks each says parts=1."""
import asyncio
import json
import os
import sys

PORT, TOKEN, REQ, N, PID, READY = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]


async def one(sent, answers):
    r, w = await asyncio.open_connection("127.0.0.1", int(PORT))
    w.write((f"GET /v1/retrievals/{REQ}?wait=60&since=0 HTTP/1.1\r\nHost: x\r\n"
             f"Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").encode())
    await w.drain()
    sent.append(1)
    data = await r.read()
    w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    answers.append((status, json.loads(body) if status == 200 else body[:200]))


async def main():
    sent, answers = [], []
    tasks = [asyncio.create_task(one(sent, answers)) for _ in range(N)]
    while len(sent) < N:
        await asyncio.sleep(0.05)
    await asyncio.sleep(3)
    if answers:
        print(f"{len(answers)} answered early: {answers[:3]}")
        return 1
    open(READY, "w").close()
    done, pending = await asyncio.wait(tasks, timeout=30)
    if pending:
        print(f"{len(pending)} not answered within 30 s")
        return 1
    bad = [a for a in answers if a[0] != 200 or a[1]["retrieval"]["parts"] != 1]
    if bad:
        print(f"{len(bad)} bad answers: {bad[:3]}")
        return 1
    print(f"all {N} woke with parts=1")
    return 0

sys.exit(asyncio.run(main()))
