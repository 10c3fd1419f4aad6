"""Data migrations: what history holds keeps working for clients after an upgrade."""

from __future__ import annotations

import importlib

from tigateway_channels.protocol.envelope import make_envelope

reshape = importlib.import_module("tigateway_channels.migrations.0004_config_history_shape").reshape


def test_an_old_config_notification_gets_the_document_shape() -> None:
    old = {
        "configType": "route_config",
        "action": "updated",
        "config": {
            "configType": "route_config",
            "id": "users",
            "version": 3,
            "createdAt": "2026-11-25T10:00:00.000Z",
            "updatedAt": "2026-11-25T11:00:00.000Z",
            "updatedBy": "admin",
            "config": {"routes": [{"id": "r1", "uri": "http://a"}], "globalFilters": []},
        },
    }
    new = reshape(old)
    assert new["config"] == {
        "id": "users",
        "routes": [{"id": "r1", "uri": "http://a"}],
        "globalFilters": [],
    }
    assert (new["configType"], new["configId"], new["version"], new["action"]) == (
        "route_config",
        "users",
        3,
        "updated",
    )
    assert new["updatedBy"] == "admin"


def test_a_notification_already_in_the_new_shape_is_left_alone() -> None:
    current = make_envelope("config_update", {"action": "created", "config": {"id": "x"}})
    assert reshape(current["data"]) is None
