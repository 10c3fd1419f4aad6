"""Observability: the API document's ``metrics``, ``metrics_query``, ``log`` and ``log_query``
for the whole cluster, system events, and a Prometheus endpoint (docs/observability.md).

The gateway's side is ``recorder.record_request`` (per process, no lock, no I/O), importable
without Django; ``runtime.start`` starts a process's reporting once Django is set up.

``recorder`` and ``sketch`` (what the gateway records) -> ``reporter`` (each process's round:
``system``, ``buckets``, ``prometheus``) -> ``backends`` (Redis or memory) -> ``merger`` (one
elected process) -> ``stream`` (each worker: ``windows`` -> metrics frames); ``logs`` (handler
and publisher), ``events``, and the queries ``metrics_query`` and ``log_query``.
"""

from tigateway_channels.observability.recorder import record_request

__all__ = ["record_request"]
