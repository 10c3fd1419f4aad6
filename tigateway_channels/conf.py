"""The one place where ``settings.TIGATEWAY_CHANNELS`` is read.

Like simplejwt's ``api_settings``: defaults live here, user values override them, and the
object is rebuilt when a test changes the setting.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "TIGATEWAY_CHANNELS"

DEFAULTS: dict[str, Any] = {
    # Channel-layer alias that carries topic messages between worker processes.
    "CHANNEL_LAYER": "default",
    # Prefix of the channel-layer groups, one group per topic: "<prefix>.<topic>". None (the
    # default) means "tigw.<deployment identity>", private to this deployment's database on a
    # shared Redis; a string is an explicit override, used as given (docs/deployment.md).
    "GROUP_PREFIX": None,
    # Let sockets without credentials connect and read (subscribe, get); never write.
    "ALLOW_ANONYMOUS_READ": False,
    # How long a worker trusts the rights (permissions, active) it read for a user. A change
    # of a user, group or permission drops them on every worker at once; this bounds how
    # stale they can be if that message is lost (Redis down).
    "RIGHTS_CACHE_SECONDS": 30.0,
    # How long before a socket's access token expires the server sends it auth_expiring.
    "AUTH_EXPIRY_WARNING_SECONDS": 60.0,
    # Browser origins allowed to open a socket; None means "the hosts in ALLOWED_HOSTS".
    # Connections without an Origin header (non-browser clients) are always allowed.
    "ALLOWED_ORIGINS": None,
    # Largest client text frame the protocol accepts (bytes); larger ones get MESSAGE_TOO_LARGE.
    # A realistic 1,000-route route_config is ~390 KB (~540 KB with {name, args} forms).
    "MAX_MESSAGE_BYTES": 1024 * 1024,
    # Pace of client requests per socket (token bucket): sustained rate and burst. Requests
    # over the rate wait their turn; they are not refused.
    "CLIENT_RATE_PER_SECOND": 100.0,
    "CLIENT_RATE_BURST": 1000,
    # Client frames waiting to be answered per socket, by count and by size (characters);
    # a frame that finds the queue full gets RATE_LIMITED.
    "CLIENT_QUEUE_LIMIT": 1000,
    "CLIENT_QUEUE_BYTES": 4 * 1024 * 1024,
    # Frames refused in a row because the queue was full, before the socket is closed (4429).
    "FLOOD_CLOSE_AFTER": 100,
    # Outgoing frames queued per socket before it counts as too slow and is closed.
    "SEND_QUEUE_LIMIT": 2000,
    # How often the per-process hub renews its group memberships (seconds).
    "GROUP_RENEW_SECONDS": 3600.0,
    # Value of metadata.source in every server message.
    "SOURCE": "tigateway",
    # History kept per topic for recovery (outbox rows): at most this many messages ...
    "HISTORY_MAX_MESSAGES": 10_000,
    # ... and none older than this (seconds).
    "HISTORY_MAX_AGE_SECONDS": 24 * 3600,
    # Recent messages each worker keeps in memory per topic, to replay without a query.
    "HISTORY_IN_MEMORY": 1000,
    # Largest replay a recovering subscribe gets; beyond it the client gets a snapshot.
    "MAX_REPLAY_MESSAGES": 5000,
    # The relay publishes outbox rows left unpublished this long after their commit ...
    "RELAY_GRACE_SECONDS": 2.0,
    # ... checking this often, in every worker (and in `manage.py tigateway_relay`).
    "RELAY_INTERVAL_SECONDS": 1.0,
    # How long a worker waits for a missing offset to arrive before reading it from history.
    "GAP_FILL_DELAY_SECONDS": 0.2,
    # The server pings a socket silent this long (seconds) ...
    "HEARTBEAT_INTERVAL_SECONDS": 45.0,
    # ... and closes it with 4408 if it still says nothing this long after the ping.
    "HEARTBEAT_TIMEOUT_SECONDS": 30.0,
    # How often each worker checks its database and channel layer for the health topic, and
    # shares its report with the other workers ...
    "HEALTH_INTERVAL_SECONDS": 5.0,
    # ... and how often subscribers get a health_update when nothing changed (they get one at
    # once when something does).
    "HEALTH_UPDATE_SECONDS": 30.0,
    # Close sockets with 1001 and publish what is pending on SIGTERM/SIGINT before the
    # server's own shutdown runs.
    "GRACEFUL_SHUTDOWN": True,
    # On SIGTERM: how long to wait for close frames and pending publishes before exiting.
    "SHUTDOWN_GRACE_SECONDS": 3.0,
    # Revisions kept per gateway config; older ones are pruned, except the latest and any
    # revision a kept rollback still refers to.
    "CONFIG_REVISIONS_KEPT": 100,
    # Project config types beside the built-in route_config, by name: {"schema": <JSON Schema>}
    # or {"validator": "dotted.path.to.callable"} (docs/configs.md).
    "CONFIG_TYPES": {},
    # -- the gateway data plane (docs/gateway.md) --
    # Upstream connect and read timeouts (seconds); a route's metadata "connect-timeout" /
    # "response-timeout" (milliseconds, as Spring Cloud Gateway) overrides them.
    "GATEWAY_CONNECT_TIMEOUT_SECONDS": 5.0,
    "GATEWAY_READ_TIMEOUT_SECONDS": 30.0,
    # Upstream connections each gateway process keeps at most (one pool per process).
    "GATEWAY_POOL_SIZE": 1000,
    # Record every request a gateway process serves for the metrics (docs/observability.md).
    "GATEWAY_RECORD_REQUESTS": True,
    # How long requests wait for the first route table before a 503.
    "GATEWAY_STARTUP_TIMEOUT_SECONDS": 30.0,
    # lb:// discovery: static instances by service, resolvers in order, cache lifetime.
    "GATEWAY_SERVICES": {},
    "GATEWAY_SERVICE_RESOLVERS": [
        "tigateway_channels.gateway.registry.StaticResolver",
        "tigateway_channels.gateway.registry.DnsResolver",
    ],
    "GATEWAY_DISCOVERY_TTL_SECONDS": 30.0,
    # DNS discovery: "a" (A/AAAA records, on GATEWAY_DNS_PORT) or "srv" (SRV records of
    # "<GATEWAY_DNS_SRV_PREFIX>.<service>").
    "GATEWAY_DNS_MODE": "a",
    "GATEWAY_DNS_PORT": 80,
    "GATEWAY_DNS_SRV_PREFIX": "_http._tcp",
    # DNS servers for SRV lookups ("host:port"); empty: the system's (/etc/resolv.conf).
    "GATEWAY_DNS_NAMESERVERS": [],
    # Passive ejection: an instance failing this many connects in a row is left out this long.
    "GATEWAY_EJECT_AFTER_FAILURES": 2,
    "GATEWAY_EJECTION_SECONDS": 30.0,
    # RequestRateLimiter: the Redis shared by every gateway process (None: the channel
    # layer's first host), extra key resolvers and limiters by bean name, and SCG's defaults.
    "GATEWAY_REDIS_URL": None,
    "GATEWAY_KEY_RESOLVERS": {},
    "GATEWAY_RATE_LIMITERS": {},
    "GATEWAY_DEFAULT_KEY_RESOLVER": "principalNameKeyResolver",
    "GATEWAY_RATE_LIMIT_DENY_EMPTY_KEY": True,
    "GATEWAY_RATE_LIMIT_EMPTY_KEY_STATUS": 403,
    "GATEWAY_RATE_LIMIT_HEADERS": True,
    # Retry replays request bodies up to this size from memory; larger ones are sent once.
    "GATEWAY_RETRY_BODY_LIMIT_BYTES": 1024 * 1024,
    # Host predicate against "host:port" as sent (SCG's default) or the host name alone.
    "GATEWAY_HOST_INCLUDE_PORT": True,
    # SetStatus: a response header carrying the upstream's original status, e.g. "[200]".
    "GATEWAY_SET_STATUS_ORIGINAL_STATUS_HEADER": None,
    # forward: routes go to this ASGI app (dotted path) instead of the gateway's own routes.
    "GATEWAY_FORWARD_APPLICATION": None,
    # -- Observability (docs/observability.md) ------------------------------------------
    # Interval of a metrics subscription that asks none (filters.metrics.interval, ms).
    "METRICS_INTERVAL_MS": 5000,
    # How often each process hands its figures to the cluster, and the length of the
    # merger's ticks: the finest window a metrics message covers.
    "METRICS_FLUSH_SECONDS": 1.0,
    # How often each process writes its time buckets (10 s, 1 min, 1 h) to the database.
    "METRICS_PERSIST_SECONDS": 5.0,
    # A node silent this long is shown as stale, and this long is left out altogether.
    "METRICS_STALE_SECONDS": 5.0,
    "METRICS_NODE_FORGET_SECONDS": 300.0,
    # How long each resolution of the persisted buckets is kept (seconds).
    "METRICS_RETENTION_SECONDS": {"10s": 6 * 3600, "1m": 7 * 24 * 3600, "1h": 90 * 24 * 3600},
    # Series (route x method x status class) one process keeps per round; beyond, new ones
    # are counted under the route "(overflow)".
    "METRICS_MAX_SERIES": 10_000,
    # Routes in a metrics message's byRoute breakdown (the busiest).
    "METRICS_ROUTES_PER_MESSAGE": 100,
    # Largest metrics_query answer: groups, and points over all groups.
    "METRICS_QUERY_MAX_SERIES": 100,
    "METRICS_QUERY_MAX_POINTS": 10_000,
    # Bearer token that lets a Prometheus scraper read the metrics endpoint without a user;
    # None: only users with view_metrics.
    "METRICS_SCRAPE_TOKEN": None,
    # Loggers whose records go to the logs topic and the log store, and the lowest level.
    "LOG_STREAM_LOGGERS": ["tigateway_channels"],
    "LOG_STREAM_LEVEL": "INFO",
    # Records waiting to be published per process; beyond, new ones are dropped and counted.
    "LOG_QUEUE_LIMIT": 10_000,
    # How long stored log records are kept (seconds).
    "LOG_RETENTION_SECONDS": 7 * 24 * 3600,
    # log_query: largest page, most records one query reads, its time budget (seconds), and
    # the longest message pattern.
    "LOG_QUERY_MAX_LIMIT": 1000,
    "LOG_QUERY_SCAN_LIMIT": 200_000,
    "LOG_QUERY_SECONDS": 5.0,
    "LOG_PATTERN_MAX_CHARS": 1000,
    # Authentication failures within the window, across the cluster, that make an
    # auth_failure_burst system event.
    "AUTH_FAILURE_BURST": 20,
    "AUTH_FAILURE_WINDOW_SECONDS": 60.0,
    # System event types recorded on the events topic (docs/observability.md); None: all.
    "SYSTEM_EVENTS": None,
}


class TigatewaySettings:
    """Attribute access to the app settings, validated once per (re)load."""

    def __init__(self, user_settings: dict[str, Any] | None = None) -> None:
        self._user = user_settings
        self._cache: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user is None:
            self._user = dict(getattr(django_settings, SETTING_NAME, {}) or {})
        return self._user

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        if name not in self._cache:
            self._cache[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cache[name]

    def unknown_keys(self) -> list[str]:
        return sorted(set(self.user_settings) - set(DEFAULTS))

    def reload(self) -> None:
        self._user = None
        self._cache.clear()


tigw_settings = TigatewaySettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "ALLOWED_HOSTS", "CHANNEL_LAYERS"):
        tigw_settings.reload()
