"""Where the user's network cache is and whether ssmhub may go online, read at call time.

The core and ``ssmhub-registry`` both read these, so the cache the registry pulls into is
the one the core looks in, and one variable puts every part offline.

- ``SSMHUB_HOME``: the cache's root (default ``~/.cache/ssmhub``), networks at
  ``networks/<model>/<kind>/``;
- ``SSMHUB_OFFLINE``, ``HF_HUB_OFFLINE``: never contact a registry; cache and plugins only.
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_ENV = ("SSMHUB_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "ON", "YES", "TRUE"}


def ssmhub_home() -> Path:
    return Path(os.environ.get("SSMHUB_HOME") or Path.home() / ".cache" / "ssmhub")


def cache_dir(model: str, kind: str) -> Path:
    """Where the cache keeps ``model``'s ``kind`` network."""
    return ssmhub_home() / "networks" / model / kind


def offline_reason() -> str | None:
    """The variable that puts ssmhub offline (e.g. ``HF_HUB_OFFLINE=1``), or None if online."""
    for name in OFFLINE_ENV:
        value = os.environ.get(name, "")
        if value.strip().upper() in _TRUE:
            return f"{name}={value}"
    return None
