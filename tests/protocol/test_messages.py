"""Reading a frame's top-level ``id`` without parsing it, for errors about unparsed frames."""

from __future__ import annotations

import time

import pytest

from tigateway_channels.protocol.messages import peek_request_id


@pytest.mark.parametrize(
    ("frame", "request_id"),
    [
        ('{"type":"ping","id":"a1"}', "a1"),
        ('{"id": 42, "type": "ping"}', 42),
        ('{ "id" : "spaced" }', "spaced"),
        ('{"id": "caf\\u00e9"}', "café"),
        ('{"type":"route_create","data":{"route":{"id":"inner"}},"id":"outer"}', "outer"),
        ('{"type":"x","note":"\\"id\\": \\"fake\\"","id":"real"}', "real"),
        ('{"type":"x","list":[{"id":"nested"}],"id":"top"}', "top"),
    ],
)
def test_the_top_level_id_is_found(frame: str, request_id: object) -> None:
    assert peek_request_id(frame) == request_id
    assert peek_request_id(frame.encode()) == request_id


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"route_create","data":{"route":{"id":"inner"}}}',  # only a nested id
        '[{"id":"a"}]',  # not an object
        '"id"',
        '{"type":"id","x":1}',  # "id" as a value
        '{"id": {"x": 1}}',
        '{"id": true}',
        '{"id": 1.5}',
        '{"id": ""}',
        '{"id": "' + "x" * 129 + '"}',  # longer than an id may be
        '{"data":{"pad":"' + "x" * 5000 + '"},"id":"late"}',  # beyond the part read
        "not json at all",
        "",
    ],
)
def test_no_usable_top_level_id_is_none(frame: str) -> None:
    assert peek_request_id(frame) is None


def test_reading_is_bounded_and_linear_whatever_the_frame() -> None:
    huge = '{"type":"ping","id":"x","data":{"pad":"' + "y" * 16_000_000 + '"}}'
    hostile = '{"a":"' + '\\"' * 100_000
    started = time.perf_counter()
    for _ in range(100):
        assert peek_request_id(huge) == "x"
        assert peek_request_id(hostile) is None
    assert time.perf_counter() - started < 1.0
