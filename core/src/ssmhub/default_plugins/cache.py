"""The user's network cache, the first place networks are looked for.

``SSMHUB_HOME`` moves it (e.g. to a shared filesystem on a cluster); the default is
``~/.cache/ssmhub``. Networks live at ``networks/<model>/<kind>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ssmhub.hookspecs import hookimpl
from ssmhub.network import CONFIG
from ssmhub.recipe import NetworkKind
from ssmhub.spec import ModelSpec


def ssmhub_home() -> Path:
    return Path(os.environ.get("SSMHUB_HOME") or Path.home() / ".cache" / "ssmhub")


def offline_reason() -> str | None:
    """The variable that puts ssmhub offline (e.g. ``HF_HUB_OFFLINE=1``), or None if online."""
    for name in ("SSMHUB_OFFLINE", "HF_HUB_OFFLINE"):
        value = os.environ.get(name, "")
        if value.strip().upper() in {"1", "ON", "YES", "TRUE"}:
            return f"{name}={value}"
    return None


def cache_dir(model: str, kind: NetworkKind) -> Path:
    return ssmhub_home() / "networks" / model / kind


@hookimpl(tryfirst=True)
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    path = cache_dir(spec.name, kind)
    return path if (path / CONFIG).is_file() else None
