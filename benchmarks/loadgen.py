"""Load-generator process: opens its share of the sockets and records every topic frame.

Runs in a ``multiprocessing`` (spawn) child, talking to the orchestrator over a Pipe:

    child  -> ("spawned",)
    parent -> ("connect",)              all children start connecting at the same moment
    child  -> ("ready", summary)        every socket settled (subscribed or failed)
    child  -> ("progress", unique, frames, closed)   every ``progress_interval`` seconds
    parent -> ("resume",)               stalled sockets (``spec["stall"]``) start reading
    parent -> ("report",)  child -> ("report", result)
    parent -> ("exit",)

Per frame it does one ``orjson.loads`` and reads ``data.route.metadata.{seq,t0}``: the writer
puts the commit's sequence number and its ``time.time()`` just before ``save()`` there.
"""

from __future__ import annotations

import array
import asyncio
import collections
import os
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import orjson

from benchmarks.wsclient import HandshakeError, WSClient, open_client

PONG = orjson.dumps({"type": "pong", "data": {}})


class Recorder:
    """Counts per socket and sequence number, and the save-to-socket latency of first receipts."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.latencies = array.array("d")
        self.latency_seqs = array.array("i")  # the change each latency belongs to
        self.unique = 0
        self.frames = 0
        self.warm = 0
        self.other = 0
        self.first_recv = 0.0
        self.last_recv = 0.0
        self.bad = 0

    def on_frame(self, client: WSClient, payload: bytes, now: float) -> None:
        self.frames += 1
        try:
            message = orjson.loads(payload)
            if message.get("type") != "route_update":
                if message.get("type") == "ping":  # the product's heartbeat: any frame answers
                    client.send_text(PONG)
                self.other += 1
                return
            meta = message["data"]["route"]["metadata"]
            seq = meta.get("seq")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.bad += 1
            return
        if seq is None or seq < 0:
            self.warm += 1
            client.tag["warm"] = True
            return
        if seq >= self.k:
            self.bad += 1
            return
        counts = client.counts
        assert counts is not None
        c = counts[seq]
        if c < 255:
            counts[seq] = c + 1
        if c == 0:
            self.unique += 1
            if not client.tag["stall"]:  # a stalled socket's latency is its stall
                self.latencies.append(now - meta["t0"])
                self.latency_seqs.append(seq)
            if not self.first_recv:
                self.first_recv = now
        if not client.tag["stall"]:  # throughput is judged on the sockets that read
            self.last_recv = now


async def _open_one(
    spec: dict[str, Any],
    cfg: dict[str, Any],
    recorder: Recorder,
    sem: asyncio.Semaphore | None,
    results: list[Any],
) -> None:
    """Connect, await the connect ack (and the filtered subscribe's ack); record the outcome."""
    timeout = cfg["connect_timeout"]
    tag = {"spec": spec, "warm": False, "stall": bool(spec.get("stall"))}
    started = time.time()
    client: WSClient | None = None
    stage = "connect"
    try:
        if sem is not None:
            await sem.acquire()
        try:
            client = await open_client("127.0.0.1", spec["port"], spec["path"], timeout, tag)
            stage = "ack"
            ack = orjson.loads(await client.next_control(timeout))
            data = ack.get("data") or {}
            if ack.get("type") != "ack" or data.get("requestType") != "connect":
                raise RuntimeError(f"first message {ack.get('type')} {data.get('code')}")
            topics = (data.get("result") or {}).get("topics")
            if topics != ["routes"]:
                raise RuntimeError(f"topics {topics}")
            if spec.get("subscribe"):
                stage = "subscribe"
                client.send_text(spec["subscribe"])
                while True:
                    reply = orjson.loads(await client.next_control(timeout))
                    rdata = reply.get("data") or {}
                    if rdata.get("requestId") == "s1":
                        if reply.get("type") != "ack":
                            raise RuntimeError(f"subscribe {reply.get('type')} {rdata.get('code')}")
                        break
        finally:
            if sem is not None:
                sem.release()
        client.counts = bytearray(recorder.k)
        if spec.get("stall"):  # a slow client: reads nothing until the parent says "resume"
            assert client.transport is not None
            client.transport.pause_reading()
        pending = list(client.control)
        client.control.clear()
        client.on_frame = recorder.on_frame
        for payload in pending:
            recorder.on_frame(client, payload, time.time())
        results.append((client, None, time.time() - started))
        return
    except HandshakeError as exc:
        reason = f"{stage}: http {exc.status[9:12]}"
    except TimeoutError:
        reason = f"{stage}: timeout"
        if client is not None and client.closed.done():
            reason = f"{stage}: closed {client.close_code}"
    except (ConnectionError, OSError) as exc:
        if client is not None and client.close_code is not None:
            reason = f"{stage}: closed {client.close_code}"
        else:
            reason = f"{stage}: {type(exc).__name__}"
    except Exception as exc:  # a protocol surprise: count it, keep going
        reason = f"{stage}: {str(exc)[:60]}"
    if client is not None:
        client.abort()
    results.append((client, reason, time.time() - started))


def _report(cfg: dict[str, Any], recorder: Recorder, ok: list[WSClient]) -> dict[str, Any]:
    k = cfg["k"]
    included = cfg["included"]  # bytes: 1 where a filtered socket must get sequence i
    delivered = lost = lost_closed = dup = wrong = missing_filtered = expected = 0
    close_codes: collections.Counter[str] = collections.Counter()
    closed = 0
    for client in ok:
        counts = client.counts
        assert counts is not None
        filtered = client.tag["spec"].get("filtered", False)
        for seq in range(k):
            c = counts[seq]
            if not filtered or included[seq]:
                expected += 1
                if c:
                    delivered += 1
                    dup += c - 1
                elif client.closed.done():  # closed by the server: missing, but not silently
                    lost_closed += 1
                else:
                    lost += 1
                    if filtered:
                        missing_filtered += 1
            elif c:
                wrong += c
        if client.closed.done():
            closed += 1
            close_codes[str(client.close_code)] += 1
    return {
        "expected": expected,
        "delivered": delivered,
        "lost": lost,
        "lost_closed": lost_closed,
        "dup": dup,
        "stalled": sum(1 for c in ok if c.tag["spec"].get("stall")),
        "wrong": wrong,
        "missing_filtered": missing_filtered,
        "closed": closed,
        "close_codes": dict(close_codes),
        "warm_sockets": sum(1 for c in ok if c.tag["warm"]),
        "other_frames": recorder.other,
        "bad_frames": recorder.bad,
        "first_recv": recorder.first_recv,
        "last_recv": recorder.last_recv,
        "latencies": recorder.latencies.tobytes(),
        "latency_seqs": recorder.latency_seqs.tobytes(),
    }


def _expected_for(cfg: dict[str, Any], spec: dict[str, Any]) -> int:
    return cfg["included_count"] if spec.get("filtered") else cfg["k"]


async def _amain(conn: Connection, cfg: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def read_commands() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("exit",)
            loop.call_soon_threadsafe(commands.put_nowait, message)
            if message[0] == "exit":
                return

    threading.Thread(target=read_commands, daemon=True).start()
    conn.send(("spawned",))
    recorder = Recorder(cfg["k"])
    command = await asyncio.wait_for(commands.get(), cfg["start_timeout"])
    if command[0] != "connect":
        return
    concurrency = cfg.get("concurrency")
    sem = asyncio.Semaphore(concurrency) if concurrency else None
    results: list[Any] = []
    start_wall = time.time()
    await asyncio.wait_for(
        asyncio.gather(*(_open_one(spec, cfg, recorder, sem, results) for spec in cfg["sockets"])),
        cfg["connect_phase_timeout"],
    )
    end_wall = time.time()
    ok = [client for client, failure, _ in results if failure is None]
    failures = collections.Counter(failure for _, failure, _ in results if failure is not None)
    settle = sorted(seconds for _, _, seconds in results)
    conn.send(
        (
            "ready",
            {
                "sockets": len(cfg["sockets"]),
                "subscribed": len(ok),
                "failures": dict(failures),
                "expected": sum(_expected_for(cfg, c.tag["spec"]) for c in ok),
                "start_wall": start_wall,
                "end_wall": end_wall,
                "settle_p50": settle[len(settle) // 2] if settle else None,
                "settle_max": settle[-1] if settle else None,
            },
        )
    )
    interval = cfg.get("progress_interval", 0.25)
    while True:
        try:
            command = await asyncio.wait_for(commands.get(), interval)
        except TimeoutError:
            closed = sum(1 for c in ok if c.closed.done())
            conn.send(("progress", recorder.unique, recorder.frames, closed, recorder.warm))
            continue
        if command[0] == "resume":
            for client in ok:
                if client.tag["spec"].get("stall") and client.transport is not None:
                    if not client.transport.is_closing():
                        client.transport.resume_reading()
        elif command[0] == "report":
            conn.send(("report", _report(cfg, recorder, ok)))
        elif command[0] == "exit":
            break
    for client in ok:
        client.abort()


def client_main(conn: Connection, cfg: dict[str, Any]) -> None:
    """Entry point of one load-generator process."""
    from benchmarks.common import raise_nofile

    raise_nofile()
    try:
        import uvloop  # the same loop uvicorn uses; cheaper per frame than the default loop

        runner = uvloop.run if cfg.get("uvloop", True) else asyncio.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(_amain(conn, cfg))
    finally:
        conn.close()
        os._exit(0)
