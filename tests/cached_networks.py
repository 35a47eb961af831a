"""For tests that score with the tiny ddm networks of conftest's `network_home`/`mnle_home`.

Those sit in the cache without a pull record, and such a copy answers only where no plugin
ships one (docs/offline.md, "Which copy is used"): the ddm plugin's own networks would come
first. `use_cached_networks` points the cache at them and takes the plugin's out of the way.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def use_cached_networks(
    monkeypatch: pytest.MonkeyPatch, home: Path, kinds: tuple[str, ...] = ("lan", "cpn", "mnle")
) -> None:
    """``home`` as SSMHUB_HOME, with the ddm plugin shipping none of ``kinds``."""
    import ssmhub_ddm
    from ssmhub.plugins import get_manager

    shipped = ssmhub_ddm.shipped_network
    monkeypatch.setenv("SSMHUB_HOME", str(home))
    monkeypatch.setattr(
        ssmhub_ddm,
        "shipped_network",
        lambda package, kind: None if kind in kinds else shipped(package, kind),
    )
    get_manager.cache_clear()
