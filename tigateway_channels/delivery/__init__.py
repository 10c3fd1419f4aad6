"""The delivery engine: from a committed change to every subscribed socket on every worker.

``model_signals`` turns a saved route or config into a topic message; ``outbox`` records it in
the same transaction (offset, epoch, frame) and publishes it to the deployment's channel-layer
group after commit; ``relay`` publishes what was never published; in each worker process the
``hub`` receives it once (through its ``membership`` of the groups), ``streams`` put it in
offset order (gaps filled from ``history``), and ``sockets`` write the frame to each subscribed
socket. ``recovery`` replays or snapshots for a resubscribing client. ``lifecycle`` runs every
background loop of the hub: reading, renewing, relaying, heartbeats, ``health`` (with
``probe`` and ``cluster``) and graceful shutdown.

Dependencies point one way: ``lifecycle`` -> ``health`` -> ``hub`` -> ``membership`` ->
``relay`` -> ``outbox`` -> ``history`` -> ``streams``; nothing imports upwards.
"""
