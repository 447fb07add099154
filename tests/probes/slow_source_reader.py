#!/usr/bin/env python3
"""slow_source_reader: a client that makes its pair leave the shortcut mid-stream.

Asks the stream service for SOURCE of N bytes, reads a little with recv() (so
the sidecar -> app direction is redirected), then stops reading for a while
(the redirected backlog passes the agent's limit and the pair leaves: the rest
comes over TCP), then reads everything. Prints one JSON line with the byte
count, whether EOF came, and when: all_read_s (all N bytes read) and eof_s.
The FIN of a leaving pair must not arrive before the agent deleted the pair.
usage: slow_source_reader.py HOST PORT NBYTES PAUSE_S"""
import json
import socket
import sys
import time

host, port, n, pause = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.create_connection((host, port))
s.sendall(b"SOURCE 7 %d 65536 65536 7\n" % n)
t0 = time.monotonic()
got = 0
while got < 16384:  # the first bytes come over TCP; reading them promotes the direction
    b = s.recv(65536)
    if not b:
        break
    got += len(b)
time.sleep(pause)
while got < n:
    b = s.recv(1 << 20)
    if not b:
        break
    got += len(b)
all_read = time.monotonic() - t0
s.settimeout(30)
eof = None
try:
    if s.recv(1) == b"":
        eof = time.monotonic() - t0
except socket.timeout:
    pass
print(json.dumps({"bytes": got, "all_read_s": round(all_read, 3), "eof_s": None if eof is None else round(eof, 3)}))
