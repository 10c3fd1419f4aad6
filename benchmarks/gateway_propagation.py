"""Propagation of route changes to every gateway process, from commit to first served request.

Run with the benchmark's Django environment:
``python -m benchmarks.gateway_propagation --ports P1,P2 --upstream U --changes 50``.
Each change creates a route (``Path=/prop-<n>/**``) through the ORM (autocommit: the save
returns after the commit and the publish); the time starts just before ``save()`` and ends when
the last gateway process first answers 200 on the new path. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time


def _get(sock: socket.socket, port: int, path: str) -> int:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ", 2)[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    parser.add_argument("--upstream", type=int, required=True)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    import django

    django.setup()
    from tigateway_channels.models import Route

    ports = [int(p) for p in args.ports.split(",")]
    sockets = {port: socket.create_connection(("127.0.0.1", port)) for port in ports}
    delays: list[float] = []
    # Change -1 warms this process up (its first publish opens the Redis connection and the
    # publishing loop thread) and is not counted.
    for n in range(-1, args.changes):
        name = "warm" if n < 0 else str(n)
        path = f"/prop-{name}/__ok"
        route = Route(
            id=f"prop-{name}",
            uri=f"http://127.0.0.1:{args.upstream}",
            predicates=[f"Path=/prop-{name}/**"],
            filters=["StripPrefix=1"],
        )
        started = time.perf_counter()
        route.save()
        waiting = set(ports)
        while waiting:
            for port in list(waiting):
                if _get(sockets[port], port, path) == 200:
                    waiting.discard(port)
            if time.perf_counter() - started > 10:
                raise SystemExit(f"change {n} not served after 10 s by {sorted(waiting)}")
        if n >= 0:
            delays.append(time.perf_counter() - started)
        time.sleep(0.05)
    delays.sort()

    def pct(q: float) -> float:
        return delays[min(len(delays) - 1, int(q * len(delays)))] * 1000

    slowest = [round(d * 1000, 1) for d in delays[-5:]]
    print(json.dumps({"changes": len(delays), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "max_ms": delays[-1] * 1000, "slowest_ms": slowest}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
