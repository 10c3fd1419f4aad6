"""The settings reference lists every setting the app reads, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from tigateway_channels.conf import DEFAULTS

SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
# Taken at collection, before conftest's autouse fixture quiets the in-process hubs' timers.
PRISTINE_DEFAULTS = dict(DEFAULTS)


def test_every_setting_is_in_the_settings_reference_with_its_default() -> None:
    rows = {
        match[1]: match[2]
        for match in re.finditer(r"^\| `([A-Z_]+)` \| `([^`]*)`", SETTINGS_DOC.read_text(), re.M)
    }
    missing = sorted(set(PRISTINE_DEFAULTS) - set(rows))
    assert not missing, f"docs/settings.md does not list {missing}"
    for key, default in PRISTINE_DEFAULTS.items():
        shown = rows[key].replace("_", "")
        written = repr(default) if isinstance(default, str) else str(default)
        assert shown.replace("'", '"') == written.replace("_", "").replace("'", '"'), (
            key,
            rows[key],
            default,
        )
