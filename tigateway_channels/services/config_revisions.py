"""Config revisions: one per saved version, retention, and readable diffs.

``record_revision`` runs from the config's ``post_save`` signal (``delivery.model_signals``), so
every saved version has its revision whoever saved it; the config service only says who, from
where and why, through ``ConfigChange``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from tigateway_channels.conf import tigw_settings
from tigateway_channels.models import (
    SUMMARY_MAX_LENGTH,
    ChangeSource,
    GatewayConfig,
    GatewayConfigRevision,
)
from tigateway_channels.services.config_types import stored_config_type


@dataclass(frozen=True)
class ConfigChange:
    """What the service knows about a save that the model does not."""

    action: str  # "created", "updated" or "rolled_back"
    source: str = ChangeSource.SHELL
    author: str = ""
    restored_from: GatewayConfigRevision | None = None


def latest_revision(config: GatewayConfig) -> GatewayConfigRevision | None:
    return config.revisions.order_by("-version").first()


def _summary(config: GatewayConfig, previous: dict[str, Any] | None, change: ConfigChange) -> str:
    kind = stored_config_type(config.config_type)
    document = config.document if isinstance(config.document, dict) else {}
    summary = kind.summarize(previous, document)
    if change.restored_from is not None:
        summary = f"rolled back to version {change.restored_from.version}: {summary}"
    if len(summary) > SUMMARY_MAX_LENGTH:
        summary = summary[: SUMMARY_MAX_LENGTH - 3] + "..."
    return summary


def record_revision(config: GatewayConfig, change: ConfigChange) -> GatewayConfigRevision:
    """Keep the version just saved, then prune what the retention setting lets go."""
    previous = latest_revision(config)
    previous_document = previous.document if previous is not None else None
    if not isinstance(previous_document, dict):
        previous_document = None
    revision = GatewayConfigRevision.objects.create(
        config=config,
        version=config.version,
        document=config.document,
        action=change.action,
        author=change.author,
        source=change.source,
        summary=_summary(config, previous_document, change),
        restored_from=change.restored_from,
    )
    prune_revisions(config)
    return revision


def prune_revisions(config: GatewayConfig) -> int:
    """Delete revisions beyond ``CONFIG_REVISIONS_KEPT``, oldest first.

    The latest is always kept, and so is every revision a kept rollback restored (and, in
    turn, what that one restored), so the history never points at nothing.
    """
    keep = max(1, int(tigw_settings.CONFIG_REVISIONS_KEPT))
    rows = list(config.revisions.order_by("-version").values_list("pk", "restored_from"))
    if len(rows) <= keep:
        return 0
    referenced = {restored for _, restored in rows[:keep] if restored is not None}
    doomed = []
    for pk, restored in rows[keep:]:  # newest first, so a reference is seen before its target
        if pk in referenced:
            if restored is not None:
                referenced.add(restored)
        else:
            doomed.append(pk)
    if doomed:
        # Revisions carry no signals: nothing to push about history.
        GatewayConfigRevision.objects.filter(pk__in=doomed).delete()
    return len(doomed)


def pretty_document(document: Any) -> list[str]:
    """The document as indented JSON lines with sorted keys, so diffs are stable."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def unified_diff(old: GatewayConfigRevision, new: GatewayConfigRevision) -> str:
    lines = difflib.unified_diff(
        pretty_document(old.document),
        pretty_document(new.document),
        fromfile=f"version {old.version}",
        tofile=f"version {new.version}",
        lineterm="",
    )
    return "\n".join(lines)


def html_diff(old: GatewayConfigRevision, new: GatewayConfigRevision) -> str:
    """A side-by-side table (difflib escapes the text) showing the changes with context."""
    return difflib.HtmlDiff(wrapcolumn=80).make_table(
        pretty_document(old.document),
        pretty_document(new.document),
        fromdesc=f"version {old.version}",
        todesc=f"version {new.version}",
        context=True,
        numlines=3,
    )
