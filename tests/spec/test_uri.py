"""Route ``uri``: an absolute http(s)/ws(s) URI with a host, returned normalised."""

from __future__ import annotations

from typing import Any

import pytest

from tigateway_channels.spec import SpecValidationError, validate_uri


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("http://backend:8080", "http://backend:8080"),
        ("HTTPS://Users.Example.ORG/api?x=1", "https://users.example.org/api?x=1"),
        ("ws://chat.local/socket", "ws://chat.local/socket"),
        ("wss://[::1]:9443", "wss://[::1]:9443"),
        ("http://user-service_1", "http://user-service_1"),
        ("http://10.0.0.5:80/a%20b", "http://10.0.0.5:80/a%20b"),
    ],
)
def test_valid_uris_are_returned_with_lowercase_scheme_and_host(
    value: str, normalised: str
) -> None:
    assert validate_uri(value) == normalised


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("lb://user-service", "scheme"),
        ("no://op", "scheme"),
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
    ],
)
def test_invalid_uris_are_one_issue_on_the_field(value: Any, word: str) -> None:
    with pytest.raises(SpecValidationError) as caught:
        validate_uri(value, field="route.uri")
    [issue] = caught.value.issues
    assert issue.field == "route.uri"
    assert word in issue.reason
