"""The registry index: ``index.json`` at the root of the registry repo.

It lists every published artifact with the sha256 and size of each of its files, so a pull
can check every byte it fetched before using it, and with what a user chooses by (training
box, accuracy, the ssmhub versions it needs, the plugin that produced it). The index is
versioned (``schema_version``): an index written by a newer ssmhub-registry is refused with
a clear message rather than half-read.

An artifact's ``commit`` is the Hub commit that published it. A commit cannot contain its
own id, so the newest artifact's ``commit`` is null until the next publish fills it in;
`ssmhub_registry.pull` looks it up on the Hub meanwhile.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ssmhub.network import Accuracy
from ssmhub.recipe import NetworkKind
from ssmhub_registry.errors import IndexSchemaError

INDEX = "index.json"
SCHEMA_VERSION = 1
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CommitId = Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")]


class FileEntry(BaseModel):
    """One file of an artifact, relative to the artifact's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    sha256: Sha256
    size: int = Field(ge=0)


class PluginInfo(BaseModel):
    """The distribution that registered the model, and its version when the network was made."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    distribution: str
    version: str


class Artifact(BaseModel):
    """One published network: ``<model>/<kind>/<version>/`` in the registry repo."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str
    kind: NetworkKind
    version: str = Field(pattern=VERSION_PATTERN)
    commit: CommitId | None = None
    published_at: datetime
    files: tuple[FileEntry, ...] = Field(min_length=1)
    parameter_names: tuple[str, ...]
    box: dict[str, tuple[float, float]]
    recipe_sha256: Sha256
    accuracy: Accuracy
    requires_ssmhub: str
    plugin: PluginInfo

    @field_validator("requires_ssmhub")
    @classmethod
    def _specifier(cls, value: str) -> str:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"not a version specifier: {value!r}") from None
        return value

    @model_validator(mode="after")
    def _files_unique(self) -> Artifact:
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate file names in {self.path}: {sorted(names)}")
        return self

    @property
    def path(self) -> str:
        """The artifact's folder in the registry repo."""
        return f"{self.model}/{self.kind}/{self.version}"

    def file(self, name: str) -> FileEntry:
        return next(f for f in self.files if f.name == name)


class RegistryIndex(BaseModel):
    """Every artifact of a registry, in the order they were published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    artifacts: tuple[Artifact, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> RegistryIndex:
        seen: set[tuple[str, str, str]] = set()
        for a in self.artifacts:
            key = (a.model, a.kind, a.version)
            if key in seen:
                raise ValueError(f"{a.path} is listed twice")
            seen.add(key)
        return self

    def versions(self, model: str, kind: str) -> list[Artifact]:
        """The artifacts of one network, oldest first."""
        return [a for a in self.artifacts if a.model == model and a.kind == kind]

    def find(self, model: str, kind: str, version: str | None = None) -> Artifact | None:
        """The given version, or the newest one when ``version`` is None."""
        found = self.versions(model, kind)
        if version is None:
            return found[-1] if found else None
        return next((a for a in found if a.version == version), None)

    def next_version(self, model: str, kind: str) -> str:
        """``v1``, ``v2``, ...: one past the highest ``vN`` published for this network."""
        numbers = [
            int(a.version[1:])
            for a in self.versions(model, kind)
            if re.fullmatch(r"v\d+", a.version)
        ]
        return f"v{max(numbers, default=0) + 1}"

    def with_artifact(self, artifact: Artifact) -> RegistryIndex:
        return RegistryIndex(artifacts=(*self.artifacts, artifact))

    def with_commits(self, commits: dict[str, str]) -> RegistryIndex:
        """The same index with the publishing commits of artifacts (by path) filled in."""
        return RegistryIndex(
            artifacts=tuple(
                a.model_copy(update={"commit": commits[a.path]})
                if a.commit is None and a.path in commits
                else a
                for a in self.artifacts
            )
        )

    def dumps(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def parse_index(text: str | bytes, source: str) -> RegistryIndex:
    """Validate ``index.json``; ``source`` (a URL or path) names it in errors."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise IndexSchemaError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise IndexSchemaError(f"{source}: expected a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise IndexSchemaError(
            f"{source}: index schema_version {version} is newer than this ssmhub-registry "
            f"understands (up to {SCHEMA_VERSION}); upgrade it: pip install -U ssmhub-registry"
        )
    try:
        return RegistryIndex.model_validate(data)
    except ValidationError as exc:
        raise IndexSchemaError(f"{source}: invalid registry index: {exc}") from None
