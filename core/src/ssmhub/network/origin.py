"""Where a loaded network came from, and the pull record that proves a registry copy.

A pull (``ssmhub-registry``) writes `PULL_RECORD` beside the network it installs in the
cache: the repo, the commit every file was read at, each file's sha256, and whether the
user asked for it (``ssmhub pull``) or a lookup fetched it because nothing else had one.
Only an explicit pull outranks the network a plugin ships (docs/offline.md, "Which copy
is used"), so a stale cache cannot silently replace an upgraded plugin's network.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ssmhub.network.names import WEIGHTS

PULL_RECORD = "registry.json"


class PulledFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    sha256: str
    size: int


class PullRecord(BaseModel):
    """What a pull installed, and from where; saved as ``registry.json``."""

    model_config = ConfigDict(frozen=True)

    repo: str
    endpoint: str
    path: str  # the artifact's folder in the repo
    version: str
    revision: str  # the commit every file was read at
    published_in: str | None = None
    files: tuple[PulledFile, ...]
    pulled_at: str
    # ``ssmhub pull`` (or `ssmhub_registry.pull.pull` called by the user): True; a lookup
    # that fetched the network because no other source had one: False. Records written
    # before the field existed read as False, so they never outrank a plugin's network.
    explicit: bool = False

    def weights_sha256(self) -> str | None:
        return next((f.sha256 for f in self.files if f.name == WEIGHTS), None)


def read_pull_record(directory: Path, weights_sha256: str | None = None) -> PullRecord | None:
    """The pull record of the network in ``directory``, if it has one that still describes
    its weights (a record whose sha256 no longer matches the file is no record).
    ``weights_sha256``: the weights' hash where the caller has just computed it."""
    from ssmhub.files import sha256_of

    try:
        record = PullRecord.model_validate_json((directory / PULL_RECORD).read_text())
    except (OSError, ValueError, ValidationError):
        return None
    weights = directory / WEIGHTS
    if not weights.is_file() or record.weights_sha256() != (weights_sha256 or sha256_of(weights)):
        return None
    return record


Source = Literal["cache", "plugin", "registry", "directory"]


class Origin(BaseModel):
    """Where a network was found, and the software that loaded it (for `Network.provenance`).

    ``source``: ``registry`` (a verified pull record: ``repo`` and ``revision``), ``cache``
    (in the user's cache without one), ``plugin`` (shipped by ``plugin``), or ``directory``
    (a path given by the caller).
    """

    model_config = ConfigDict(frozen=True)

    source: Source
    plugin: str | None = None  # "distribution version" of the plugin that shipped it
    repo: str | None = None
    revision: str | None = None
    version: str | None = None  # the registry's version of the network (v1, v2, ...)
    explicit_pull: bool | None = None
    ssmhub_version: str
    model_plugin: str  # "distribution version" of the plugin that registers the model


def describe(record: Mapping[str, Any]) -> str:
    """A network's source in words, from its provenance record (`Network.provenance`)."""
    source = record.get("source")
    if source == "registry":
        how = "pulled" if record.get("explicit_pull") else "fetched on demand"
        where = f"registry {record.get('repo')} at commit {str(record.get('revision'))[:12]}"
        text = f"{where} ({how}, {record.get('version')})"
    elif source == "plugin":
        text = f"plugin {record.get('plugin')}"
    else:
        text = str(source)
    return f"{text}, {record.get('path')}"
