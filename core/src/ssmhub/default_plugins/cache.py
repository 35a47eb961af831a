"""The user's network cache, asked after every plugin (a plain ``locate_network``).

``SSMHUB_HOME`` moves it (`ssmhub.settings`). A cached network answers here only when no
plugin ships one for the model and kind: a copy left by hand, or fetched on demand from a
registry, must not silently replace the network an upgraded plugin ships. A copy the
user pulled explicitly answers earlier, in `pulled`.
"""

from __future__ import annotations

from pathlib import Path

from ssmhub.default_plugins.pulled import explicitly_pulled
from ssmhub.hookspecs import hookimpl
from ssmhub.network.names import CONFIG
from ssmhub.recipe import NetworkKind
from ssmhub.settings import cache_dir
from ssmhub.spec import ModelSpec


@hookimpl
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    path = cache_dir(spec.name, kind)
    if not (path / CONFIG).is_file() or explicitly_pulled(path):
        return None
    return path
