"""A client that floods a relay room with document updates as fast as its socket takes them.

``python tests/flood_client.py HOST PORT PATH`` prints ``ready`` once its updates are made, then takes lines on stdin: ``flood SECONDS`` floods for that
long (then answers ``done`` on stdout), ``stats`` prints the figures as one JSON line and exits. A flood
connects, upgrades, and writes valid Yjs updates (a fresh client id per connection) in a tight loop;
when the relay closes the connection it reconnects at once, and when the relay refuses the upgrade
(HTTP 429) it tries again at once, as a hostile client would. Figures: ``connections`` (upgrades
accepted), ``refused`` (429 answers), ``closes`` (close codes the relay sent, code -> count),
``messages`` sent.
Runs as its own process, so the flood competes with the relay for the CPU as a remote client would.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import sys
import time
from collections import Counter

import pycrdt


BURST = 1000  # updates written in one go, again and again


def frame(payload: bytes) -> bytes:
    n = len(payload)
    head = bytes((0x82, 0x80 | n)) if n < 126 else bytes((0x82, 0x80 | 126)) + n.to_bytes(2, "big")
    return head + b"\0\0\0\0" + payload  # zero mask: the payload goes as it is


def updates(count: int) -> bytes:
    """``count`` update messages of a new client, framed, as one buffer."""
    doc = pycrdt.Doc(client_id=random.randrange(1, 2**31))
    doc["flood"] = text = pycrdt.Text()
    made: list[bytes] = []
    sub = doc.observe(lambda event: made.append(event.update))
    for _ in range(count):
        text.insert(0, "flood ")
    doc.unobserve(sub)
    return b"".join(frame(b"\x00\x02" + pycrdt.write_var_uint(len(u)) + u) for u in made)


def close_code(data: bytes) -> int | None:
    """The code of the first close frame in the server's ``data``, if any."""
    pos = 0
    while pos + 2 <= len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n, pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos : pos + 8], "big"), pos + 8
        if opcode == 8:
            return int.from_bytes(data[pos : pos + 2], "big") if n >= 2 else 1005
        pos += n
    return None


def main() -> None:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    stats: dict = {"connections": 0, "refused": 0, "closes": Counter(), "messages": 0}
    # Made before the flood (~0.1 s of CPU): a client of its own per connection, 12 connections' worth.
    bursts = [updates(BURST) for _ in range(12)]
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "flood":
            flood(host, port, path, time.monotonic() + float(command[1]), stats, bursts)
            print("done", flush=True)
        elif command[0] == "stats":
            break
    stats["closes"] = dict(stats["closes"])
    print(json.dumps(stats), flush=True)


def flood(host: str, port: int, path: str, end: float, stats: dict, bursts: list[bytes]) -> None:
    while time.monotonic() < end:
        with socket.create_connection((host, port)) as sock:
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                answer = "refused" if head.startswith(b"HTTP/1.1 429") else "other_answers"
                stats[answer] = stats.get(answer, 0) + 1
                continue
            stats["connections"] += 1
            burst = memoryview(bursts[stats["connections"] % len(bursts)])
            received = head.split(b"\r\n\r\n", 1)[1]
            sock.setblocking(False)
            sent, closed = 0, False
            while not closed and time.monotonic() < end:
                try:
                    sent += sock.send(burst[sent:])
                    if sent == len(burst):  # the same updates again: duplicates, but valid
                        sent = 0
                        stats["messages"] += BURST
                except BlockingIOError:
                    time.sleep(0.0005)
                except OSError:
                    closed = True
                try:
                    while True:
                        chunk = sock.recv(1 << 20)
                        if not chunk:
                            closed = True
                            break
                        received += chunk
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
            code = close_code(received)
            stats["closes"][str(code)] += 1


if __name__ == "__main__":
    main()
