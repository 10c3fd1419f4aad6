"""Rewrite config notifications kept in history to the API document's 5.1 shape.

Before 0.2, ``data.config`` held the config's metadata with the document nested one level
deeper (``data.config.config.routes``); a client recovering across the upgrade would get those
frames replayed as they were stored. Only the frame's ``data`` changes: the id, timestamp and
offset of each message stay, so recovery positions remain valid.
"""

import json

from django.db import migrations


def reshape(data):
    inner = data.get("config")
    if not isinstance(inner, dict) or "config" not in inner or "configType" not in inner:
        return None  # already in the new shape
    document = inner["config"]
    if isinstance(document, dict):
        document = {"id": inner.get("id"), **{k: v for k, v in document.items() if k != "id"}}
    return {
        "action": data.get("action"),
        "configType": inner.get("configType", data.get("configType")),
        "configId": inner.get("id"),
        "version": inner.get("version"),
        "createdAt": inner.get("createdAt"),
        "updatedAt": inner.get("updatedAt"),
        "updatedBy": inner.get("updatedBy"),
        "config": document,
    }


def forwards(apps, schema_editor):
    OutboxMessage = apps.get_model("tigateway_channels", "OutboxMessage")
    rows = OutboxMessage.objects.using(schema_editor.connection.alias).filter(topic="config")
    for row in rows.iterator():
        envelope = json.loads(row.frame)
        data = reshape(envelope.get("data") or {})
        if data is not None:
            envelope["data"] = data
            row.frame = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
            row.save(update_fields=["frame"])


class Migration(migrations.Migration):
    dependencies = [
        ("tigateway_channels", "0003_installation"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
