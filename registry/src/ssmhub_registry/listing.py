"""What networks are available: here (cache, plugins) and in the registry.

The local listing asks the plugins' ``locate_network`` hooks, as ``load_network`` does, with
this plugin's own Hub source switched off, so listing never downloads anything and shows the
network ``load_network`` would use for each model and kind.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from ssmhub.default_plugins.cache import cache_dir
from ssmhub.network import CONFIG, Accuracy
from ssmhub.recipe import NetworkKind
from ssmhub_registry import hub, settings
from ssmhub_registry.errors import RegistryError
from ssmhub_registry.index import RegistryIndex
from ssmhub_registry.pull import PROVENANCE

KINDS = get_args(NetworkKind)
hub_source_off: ContextVar[bool] = ContextVar("ssmhub_registry_hub_source_off", default=False)


@contextmanager
def without_hub_source() -> Iterator[None]:
    """Make this plugin's ``locate_network`` answer None (no pulls) inside the block."""
    token = hub_source_off.set(True)
    try:
        yield
    finally:
        hub_source_off.reset(token)


@dataclass(frozen=True)
class LocalNetwork:
    model: str
    kind: str
    source: str  # "cache" or "plugin"
    path: Path
    version: str | None  # from the pull's provenance, for pulled networks
    revision: str | None
    accuracy: Accuracy | None  # None also when the recorded report is malformed


def local_networks() -> list[LocalNetwork]:
    """For each installed model and kind, the network ``load_network`` would find here."""
    from ssmhub.plugins import get_manager

    manager = get_manager()
    found = []
    with without_hub_source():
        for name in manager.catalog.names():
            spec = manager.catalog.specs[name]
            for kind in KINDS:
                path = manager.locate_network(spec, kind)  # type: ignore[arg-type]
                if path is not None:
                    found.append(_describe(name, kind, Path(path)))
    return found


def _describe(model: str, kind: str, path: Path) -> LocalNetwork:
    in_cache = path.resolve() == cache_dir(model, kind).resolve()  # type: ignore[arg-type]
    provenance = _read_json(path / PROVENANCE) if in_cache else {}
    metrics = _read_json(path / CONFIG).get("metrics") or {}
    return LocalNetwork(
        model=model,
        kind=kind,
        source="cache" if in_cache else "plugin",
        path=path,
        version=provenance.get("version"),
        revision=provenance.get("revision"),
        accuracy=_read_accuracy(metrics.get("accuracy")),
    )


def _read_accuracy(report: Any) -> Accuracy | None:
    """A listing shows what it can: a malformed report reads as none, not as an error."""
    try:
        return None if report is None else Accuracy.model_validate(report)
    except ValidationError:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remote_index(
    repo: str | None = None, revision: str | None = None
) -> tuple[str, str, RegistryIndex]:
    """The registry's repo id, the commit read, and its index, with the publishing commit of
    every artifact (the newest one's is looked up: the index cannot record it itself)."""
    repo = settings.require_repo(repo)
    hub.check_online(f"read the registry {repo}")
    at = hub.resolve(repo, revision or settings.DEFAULT_BRANCH)
    with tempfile.TemporaryDirectory(prefix="ssmhub-index-") as scratch:
        index = hub.fetch_index(repo, at, Path(scratch))
    if index is None:
        raise RegistryError(f"{hub.repo_url(repo)} has no index.json: nothing is published yet")
    pending = [f"{a.path}/{CONFIG}" for a in index.artifacts if a.commit is None]
    try:
        found = hub.last_commits(repo, pending, at)
    except RegistryError:
        found = {}  # only informative
    return repo, at, index.with_commits({p.rsplit("/", 1)[0]: c for p, c in found.items()})
