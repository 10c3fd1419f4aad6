"""Which backend this process uses: the channel layer's Redis when the layer is channels-redis
(every process of the deployment meets there), else this process's memory."""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from channels_redis.utils import decode_hosts
from django.conf import settings

from tigateway_channels.conf import tigw_settings
from tigateway_channels.delivery.deployment import group_name
from tigateway_channels.observability.backends.base import Entry, ObservabilityBackend
from tigateway_channels.observability.backends.memory import MemoryBackend
from tigateway_channels.observability.backends.redis_streams import RedisBackend

__all__ = ["Entry", "ObservabilityBackend", "get_backend", "redis_client"]

# Seconds a Redis call may take; above the longest blocking read (a tick wait of ~1 s).
REDIS_TIMEOUT = 5.0

_lock = threading.Lock()
_backends: dict[tuple[Any, ...], ObservabilityBackend] = {}
_pid = os.getpid()


def redis_client(hosts: Any) -> Any:
    """A client for the first host of channels-redis's ``hosts`` forms; None for Sentinel."""
    host: dict[str, Any] = dict(decode_hosts(hosts)[0])
    timeouts: dict[str, Any] = {
        "socket_timeout": REDIS_TIMEOUT,
        "socket_connect_timeout": REDIS_TIMEOUT,
        "health_check_interval": 30,
    }
    if "address" in host:
        return redis.Redis.from_url(host.pop("address"), **host, **timeouts)
    if "master_name" in host:
        return None
    return redis.Redis(**host, **timeouts)


def _layer() -> dict[str, Any]:
    layers = getattr(settings, "CHANNEL_LAYERS", None) or {}
    return dict(layers.get(tigw_settings.CHANNEL_LAYER) or {})


def get_backend() -> ObservabilityBackend:
    """This process's backend (sync code: the prefix may need the deployment identity)."""
    global _pid
    layer = _layer()
    prefix = group_name("obs")
    key = (str(layer.get("BACKEND")), repr(layer.get("CONFIG")), prefix)
    with _lock:
        if _pid != os.getpid():  # a forked child must not share its parent's sockets
            _backends.clear()
            _pid = os.getpid()
        backend = _backends.get(key)
        if backend is None:
            client = None
            if str(layer.get("BACKEND", "")).startswith("channels_redis"):
                client = redis_client((layer.get("CONFIG") or {}).get("hosts"))
            backend = RedisBackend(client, prefix) if client is not None else MemoryBackend()
            _backends[key] = backend
        return backend
