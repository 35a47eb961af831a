"""Networks the user pulled from a registry on purpose: asked first (``tryfirst``).

``ssmhub pull`` records the pull beside the network (`ssmhub.network.origin.PullRecord`,
``explicit``); such a copy outranks the plugins, because the user chose it over whatever
they ship. Other cached copies wait until after the plugins (`cache`).
"""

from __future__ import annotations

from pathlib import Path

from ssmhub.hookspecs import hookimpl
from ssmhub.network.names import CONFIG
from ssmhub.network.origin import read_pull_record
from ssmhub.recipe import NetworkKind
from ssmhub.settings import cache_dir
from ssmhub.spec import ModelSpec


def explicitly_pulled(path: Path) -> bool:
    record = read_pull_record(path)
    return record is not None and record.explicit


@hookimpl(tryfirst=True)
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    path = cache_dir(spec.name, kind)
    return path if (path / CONFIG).is_file() and explicitly_pulled(path) else None
