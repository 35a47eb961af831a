"""What networks are available: here (cache, plugins) and in the registry.

The local listing asks the plugins' ``locate_network`` hooks, as ``load_network`` does, with
this plugin's own Hub source switched off, so listing never downloads anything. It shows
every copy each source offers, in the order they are asked: the first is the one
``load_network`` uses, and each row says why it is used or passed over.
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

from ssmhub.files import sha256_of
from ssmhub.network import CONFIG, WEIGHTS, Accuracy, Origin, read_pull_record
from ssmhub.recipe import NetworkKind
from ssmhub_registry import hub, settings
from ssmhub_registry.errors import RegistryError
from ssmhub_registry.index import RegistryIndex

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
    """One copy of a network found here, whether ``load_network`` uses it, and why."""

    model: str
    kind: str
    source: str  # "registry" (a pull record), "cache" or "plugin" (`ssmhub.network.Origin`)
    path: Path
    used: bool
    why: str
    version: str | None  # from the pull record, for pulled networks
    revision: str | None
    accuracy: Accuracy | None  # None also when the recorded report is malformed


def local_networks() -> list[LocalNetwork]:
    """For each installed model and kind, every copy found here, the one ``load_network``
    uses first."""
    from ssmhub.plugins import get_manager

    manager = get_manager()
    found = []
    with without_hub_source():
        for name in manager.catalog.names():
            spec = manager.catalog.specs[name]
            for kind in KINDS:
                copies = list(manager.network_candidates(spec, kind))  # type: ignore[arg-type]
                origins = [manager.origin(spec, c) for c in copies]
                digests = [sha256_of(c.path / WEIGHTS) for c in copies]
                for i, (copy, origin) in enumerate(zip(copies, origins, strict=True)):
                    why = _why(i, origins, digests, f"{name} --kind {kind}")
                    found.append(_describe(name, kind, copy.path, origin, i == 0, why))
    return found


def _why(i: int, origins: list[Origin], digests: list[str], pull_args: str) -> str:
    """Why copy ``i`` is used (the first) or not: the precedence rule in words."""
    first = origins[0]
    chosen = first.source == "registry" and bool(first.explicit_pull)
    if i == 0:
        if chosen:
            return "pulled explicitly (ssmhub pull): outranks the networks plugins ship"
        if first.source == "plugin":
            return f"shipped by {first.plugin}"
        return "no plugin ships one" + (
            "; fetched on demand from the registry" if first.source == "registry" else ""
        )
    same = "same weights as" if digests[i] == digests[0] else "differs from"
    if chosen:
        return f"{same} the explicitly pulled copy, which comes first"
    if origins[i].source == "plugin":
        return f"{same} the copy of {first.plugin}, asked first"
    return (
        f"{same} the plugin's and was not pulled explicitly, so the plugin's is used "
        f"(`ssmhub pull {pull_args}` to choose a registry copy)"
    )


def _describe(
    model: str, kind: str, path: Path, origin: Origin, used: bool, why: str
) -> LocalNetwork:
    record = read_pull_record(path) if origin.source == "registry" else None
    metrics = _read_json(path / CONFIG).get("metrics") or {}
    return LocalNetwork(
        model=model,
        kind=kind,
        source=origin.source,
        path=path,
        used=used,
        why=why,
        version=record.version if record else None,
        revision=record.revision if record else None,
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
