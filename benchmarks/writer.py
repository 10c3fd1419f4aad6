"""Writer process: commits route changes through the Django ORM at a fixed rate.

Runs in a ``multiprocessing`` (spawn) child with the cluster's environment:

    child  -> ("ready", info)           routes created
    parent -> ("warmup", n)             n saves that change nothing but metadata (seq < 0)
    child  -> ("warmed",)
    parent -> ("go", start)             K saves at R per second on an absolute schedule
                                        (with several writers: seq % writers == index)
    child  -> ("done", stats)
    parent -> ("exit",)

Every save sets ``metadata = {"t0": time.time(), "seq": k}`` just before ``save()``, inside
``transaction.atomic()`` as a service would. What happens after commit depends on the target:

- ``product``: nothing here; tigateway_channels' signals record the outbox row and publish.
- ``channels``: the product's receivers are disconnected and the plain baseline's receiver
  (``apps/channels_signals.py``) does ``async_to_sync(layer.group_send)`` on commit.
- ``raw``: the product's receivers are disconnected; right after the commit the writer
  publishes ``status[,previous]\\n`` + the serialised envelope to a Redis pub/sub channel.
"""

from __future__ import annotations

import os
import time
import uuid
from multiprocessing.connection import Connection
from typing import Any

ROUTE_COUNT = 20


def route_id(index: int) -> str:
    return f"bench-route-{index:03d}"


def writer_main(conn: Connection, cfg: dict[str, Any]) -> None:
    os.environ.update(cfg["env"])
    import django

    django.setup()
    import orjson
    import psutil
    import redis
    from django.db import transaction
    from django.db.models.signals import post_delete, post_save

    from tigateway_channels.delivery import model_signals as product_signals
    from tigateway_channels.models import Route
    from tigateway_channels.protocol.envelope import utc_timestamp

    mode = cfg["mode"]
    if mode != "product":
        post_save.disconnect(product_signals.route_saved, sender=Route)
        post_delete.disconnect(product_signals.route_deleted, sender=Route)
    if mode == "channels":
        from benchmarks.apps import channels_signals

        channels_signals.connect()
    publisher = redis.Redis.from_url(cfg["redis_url"]) if mode == "raw" else None
    channel = cfg.get("redis_channel", "")

    routes: list[Route] = []
    if cfg.get("create", True):
        with transaction.atomic():
            for i, status in enumerate(cfg["initial_statuses"]):
                route = Route(
                    id=route_id(i),
                    uri=f"http://upstream-{i}.internal:8080",
                    predicates=[f"Path=/api/bench/{i}/**"],
                    filters=["StripPrefix=2"],
                    status=status,
                    order=i,
                    metadata={},
                )
                route.save()
                routes.append(route)
    else:  # another writer created them; each writer saves its own routes only
        routes = [Route.objects.get(id=route_id(i)) for i in range(len(cfg["initial_statuses"]))]
    process = psutil.Process()

    def save(route: Route, status: str, seq: int) -> float:
        previous = route.status
        route.status = status
        route._bench_prev_status = previous  # type: ignore[attr-defined]
        t0 = time.time()
        route.metadata = {"t0": t0, "seq": seq}
        with transaction.atomic():
            route.save()
        if publisher is not None:
            statuses = status if previous == status else f"{status},{previous}"
            envelope = {
                "type": "route_update",
                "id": f"route-update-{uuid.uuid4().hex[:16]}",
                "timestamp": utc_timestamp(),
                "data": {"action": "updated", "route": route.to_message()},
                "metadata": {"source": "tigateway", "topic": "routes", "offset": seq},
            }
            publisher.publish(channel, statuses.encode() + b"\n" + orjson.dumps(envelope))
        return time.time() - t0

    conn.send(("ready", {"routes": len(routes)}))
    while True:
        if not conn.poll(cfg["idle_timeout"]):
            break
        command = conn.recv()
        if command[0] == "warmup":
            for n in range(command[1]):
                route = routes[0]  # route 0 belongs to writer 0, which does the warm-up
                save(route, route.status, -1 - n)
                time.sleep(0.05)
            conn.send(("warmed",))
        elif command[0] == "go":
            # This writer's share of the plan: seq % writers == index (several writers give
            # a faster R; each route belongs to one writer), on a schedule shared by all.
            plan, rate = cfg["plan"], cfg["rate"]
            share, writers = cfg.get("writer_index", 0), cfg.get("writers", 1)
            start = command[1] if len(command) > 1 else time.time() + 0.05
            cpu0 = sum(process.cpu_times()[:2])
            durations: list[float] = []
            max_lag = 0.0
            first_t0 = last_t0 = 0.0
            for seq, (index, status) in enumerate(plan):
                if seq % writers != share:
                    continue
                due = start + seq / rate
                now = time.time()
                if due > now:
                    time.sleep(due - now)
                else:
                    max_lag = max(max_lag, now - due)
                last_t0 = time.time()
                first_t0 = first_t0 or last_t0
                durations.append(save(routes[index], status, seq))
            conn.send(
                (
                    "done",
                    {
                        "first_t0": first_t0,
                        "last_t0": last_t0,
                        "durations": durations,
                        "max_lag_ms": max_lag * 1000,
                        "writer_cpu_s": sum(process.cpu_times()[:2]) - cpu0,
                    },
                )
            )
        elif command[0] == "exit":
            break
    conn.close()
    os._exit(0)
