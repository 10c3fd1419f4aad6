"""Route ``uri``: every form Spring Cloud Gateway takes, validated and returned normalised."""

from __future__ import annotations

from typing import Any

import pytest

from tigateway_channels.scg import SpecValidationError, validate_uri

LABEL_63 = "a" * 63


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("http://backend:8080", "http://backend:8080"),
        ("HTTPS://Users.Example.ORG/api?x=1", "https://users.example.org/api?x=1"),
        ("ws://chat.local/socket", "ws://chat.local/socket"),
        ("wss://[::1]:9443", "wss://[::1]:9443"),
        ("http://user-service_1", "http://user-service_1"),
        ("http://10.0.0.5:80/a%20b", "http://10.0.0.5:80/a%20b"),
        # Load-balanced: a service the gateway's registry resolves.
        ("lb://user-service", "lb://user-service"),
        ("LB://User-Service", "lb://user-service"),
        ("lb://users.default.svc.cluster.local", "lb://users.default.svc.cluster.local"),
        ("lb://user-service/api?v=2", "lb://user-service/api?v=2"),
        ("lb://s3", "lb://s3"),
        (f"lb://{LABEL_63}", f"lb://{LABEL_63}"),
        ("lb:ws://chat-service", "lb:ws://chat-service"),
        ("lb:wss://chat-service", "lb:wss://chat-service"),
        ("LB:WSS://Chat-Service/socket", "lb:wss://chat-service/socket"),
        # Handled by the gateway itself.
        ("forward:/fallback", "forward:/fallback"),
        ("forward:///localfallback", "forward:///localfallback"),
        ("Forward:/api/health?full=1", "forward:/api/health?full=1"),
        ("forward:/", "forward:/"),
    ],
)
def test_valid_uris_are_returned_with_lowercase_scheme_and_host(
    value: str, normalised: str
) -> None:
    assert validate_uri(value) == normalised


def test_a_service_name_of_253_characters_is_the_longest_accepted() -> None:
    name = ".".join([LABEL_63] * 3 + ["b" * 61])
    assert len(name) == 253
    assert validate_uri(f"lb://{name}") == f"lb://{name}"
    with pytest.raises(SpecValidationError):
        validate_uri(f"lb://{name}c")


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("no://op", "scheme"),
        ("ftp://files", "scheme"),
        ("/relative/path", "scheme"),
        ("http://", "host"),
        ("http:backend", "host"),
        ("http://backend:99999", "port"),
        ("http://backend:0", "port"),
        ("http://back end", "characters"),
        ("http://bäckend", "characters"),
        ("http://backend/%zz", "characters"),
        ("http://backend#top", "fragment"),
        ("http://admin:secret@backend", "user:password"),
        ("http://bad..host", "host name"),
        ("http://[nope]", "IPv6"),
        ("", "non-empty"),
        (None, "non-empty"),
        (42, "non-empty"),
        ("http://a/" + "x" * 3000, "at most"),
        # Load-balanced URIs.
        ("lb://", "must name a service"),
        ("lb:user-service", "lb://service"),
        ("lb:http://user-service", "lb://service"),
        ("lb:ftp://user-service", "lb://service"),
        ("lb://user_service", "service name"),
        ("lb://-users", "service name"),
        ("lb://users-", "service name"),
        ("lb://users..eu", "service name"),
        ("lb://users.", "service name"),
        (f"lb://{LABEL_63}a", "service name"),
        ("lb://user-service:8080", "port"),
        ("lb:ws://chat:9000", "port"),
        ("lb://[::1]", "not an address"),
        ("lb://admin:secret@user-service", "user:password"),
        ("lb:wss://admin@chat", "user:password"),
        ("lb://user-service#x", "fragment"),
        # Forwards.
        ("forward:fallback", "absolute path"),
        ("forward:", "absolute path"),
        ("forward://gateway/fallback", "not a host"),
        ("forward:/fallback#x", "fragment"),
    ],
)
def test_invalid_uris_are_one_issue_on_the_field(value: Any, word: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        validate_uri(value, field="route.uri")
    [issue] = caught.value.issues
    assert issue.field == "route.uri"
    assert issue.value == value or len(str(value)) > 1000  # long values are shown cut
    assert word in issue.reason


def test_an_unknown_scheme_lists_every_accepted_one() -> None:
    with pytest.raises(SpecValidationError) as caught:
        validate_uri("gopher://hole")
    reason = caught.value.issues[0].reason
    for scheme in ("http", "https", "ws", "wss", "lb", "lb:ws", "lb:wss", "forward"):
        assert scheme in reason
