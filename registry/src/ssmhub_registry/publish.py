"""Publish a trained, evaluated network to the registry in one Hub commit.

The artifact folder ``<model>/<kind>/<version>/``, its model card and the updated
``index.json`` go in a single commit whose ``parent_commit`` is the revision the index was
read at: if anyone else committed in between (another publish), the Hub refuses it and
nothing is written, so no publish can drop another's index entry. A version that exists is
never rewritten, and a network without an accuracy report is not published at all.
"""

from __future__ import annotations

import importlib.metadata
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ssmhub.network import CARD, CONFIG, PLOT, WEIGHTS, NetworkConfig
from ssmhub_registry import hub, settings
from ssmhub_registry.card import model_card
from ssmhub_registry.errors import PublishConflictError, PublishRefusedError
from ssmhub_registry.index import (
    INDEX,
    VERSION_PATTERN,
    Artifact,
    FileEntry,
    PluginInfo,
    RegistryIndex,
)


@dataclass(frozen=True)
class PublishResult:
    repo: str
    artifact: Artifact
    commit: str  # the new revision of the registry
    parent: str  # the revision the index was read at


def publish(
    run_dir: Path,
    repo: str | None = None,
    version: str | None = None,
    branch: str = settings.DEFAULT_BRANCH,
) -> PublishResult:
    """Publish the network in ``run_dir`` as ``version`` (default: the next ``vN``)."""
    repo = settings.require_repo(repo)
    config, plugin = _check_run(run_dir)
    if version is not None and not re.fullmatch(VERSION_PATTERN, version):
        raise PublishRefusedError(
            f"--version {version!r}: use letters, digits, '.', '_' and '-' (e.g. v2)"
        )
    hub.check_online(f"publish to {repo}")
    api = hub.api()
    hub.call(
        f"create or find the repo {repo}",
        f"{settings.endpoint()}/api/repos/create",
        lambda: api.create_repo(repo, exist_ok=True),
    )
    head = hub.resolve(repo, branch)
    with tempfile.TemporaryDirectory(prefix="ssmhub-publish-") as scratch:
        index = hub.fetch_index(repo, head, Path(scratch)) or RegistryIndex()
    version = version or index.next_version(config.model, config.kind)
    folder = f"{config.model}/{config.kind}/{version}"
    taken = index.find(config.model, config.kind, version) is not None or hub.paths_info(
        repo, [f"{folder}/{n}" for n in (CONFIG, WEIGHTS, CARD)], head
    )
    if taken:
        listed = [a.version for a in index.versions(config.model, config.kind)]
        raise PublishRefusedError(
            f"{hub.repo_url(repo)}: {folder} already exists and published versions are never "
            f"rewritten; choose another --version (taken: {', '.join(listed) or version})"
        )
    index = _record_commits(repo, index, head)
    files = {CONFIG: (run_dir / CONFIG).read_bytes(), WEIGHTS: (run_dir / WEIGHTS).read_bytes()}
    if (run_dir / PLOT).is_file():
        files[PLOT] = (run_dir / PLOT).read_bytes()
    artifact = _artifact(config, version, plugin, files)
    files[CARD] = str(model_card(config, artifact, repo)).encode()
    artifact = artifact.model_copy(update={"files": _entries(files)})
    new_index = index.with_artifact(artifact)
    commit = _commit(repo, branch, head, folder, files, new_index, artifact)
    return PublishResult(repo, artifact.model_copy(update={"commit": commit}), commit, head)


def _check_run(run_dir: Path) -> tuple[NetworkConfig, PluginInfo]:
    """The run's config if it may be published: it loads, fits its model, has an accuracy
    report; and who made it."""
    from pydantic import ValidationError

    from ssmhub.network import read_network
    from ssmhub.plugins import get_manager

    config = read_network(run_dir).config  # SsmhubError naming the file if invalid
    manager = get_manager()
    spec = manager.catalog.get(config.model)
    read_network(run_dir, spec)
    try:
        report = config.accuracy
    except ValidationError as exc:
        raise PublishRefusedError(
            f"{run_dir / CONFIG}: malformed accuracy report, rerun `ssmhub evaluate {run_dir}`: "
            f"{exc}"
        ) from None
    if report is None:
        raise PublishRefusedError(
            f"{run_dir / CONFIG}: no accuracy report (metrics.accuracy); run `ssmhub evaluate "
            f"{run_dir}` first: every published network says how accurate it is"
        )
    record = manager.records[manager.catalog.owners[config.model]]
    plugin = PluginInfo(
        distribution=record.distribution,
        version=config.versions.get(record.distribution, record.version),
    )
    return config, plugin


def requires_ssmhub(made_with: str | None) -> str:
    """The ssmhub versions that can read a network made with ``made_with``: from that
    version up to the next breaking one (the next minor while ssmhub is 0.x)."""
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(made_with or "")
    except InvalidVersion:
        v = Version(importlib.metadata.version("ssmhub"))
    upper = f"0.{v.minor + 1}" if v.major == 0 else f"{v.major + 1}"
    return f">={v.base_version},<{upper}"


def _artifact(
    config: NetworkConfig, version: str, plugin: PluginInfo, files: dict[str, bytes]
) -> Artifact:
    return Artifact(
        model=config.model,
        kind=config.kind,
        version=version,
        published_at=datetime.now(UTC).replace(microsecond=0),
        files=_entries(files),
        parameter_names=config.parameter_names,
        box=config.box,
        recipe_sha256=config.recipe_sha256,
        accuracy=config.accuracy,
        requires_ssmhub=requires_ssmhub(config.versions.get("ssmhub")),
        plugin=plugin,
    )


def _entries(files: dict[str, bytes]) -> tuple[FileEntry, ...]:
    import hashlib

    return tuple(
        FileEntry(name=name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        for name, data in sorted(files.items())
    )


def _record_commits(repo: str, index: RegistryIndex, head: str) -> RegistryIndex:
    """Fill in the publishing commit of artifacts whose commit is not recorded yet."""
    pending = [a for a in index.artifacts if a.commit is None]
    found = hub.last_commits(repo, [f"{a.path}/{CONFIG}" for a in pending], head)
    return index.with_commits({path.rsplit("/", 1)[0]: oid for path, oid in found.items()})


def _commit(
    repo: str,
    branch: str,
    head: str,
    folder: str,
    files: dict[str, bytes],
    index: RegistryIndex,
    artifact: Artifact,
) -> str:
    """One commit on top of ``head``, retried on server errors; the new commit's id."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    api = hub.api()
    attempts = 0

    def attempt() -> str:
        nonlocal attempts
        attempts += 1
        operations = [CommitOperationAdd(f"{folder}/{n}", data) for n, data in files.items()]
        operations.append(CommitOperationAdd(INDEX, index.dumps().encode()))
        try:
            info = api.create_commit(
                repo,
                operations,
                commit_message=f"Publish {artifact.model} {artifact.kind} {artifact.version}",
                commit_description=(
                    f"ssmhub publish: {folder} ({', '.join(sorted(files))}); "
                    f"accuracy median {artifact.accuracy.median_abs_error:.4g} "
                    f"{artifact.accuracy.unit}"
                ),
                revision=branch,
                parent_commit=head,
            )
        except HfHubHTTPError as exc:
            if getattr(exc.response, "status_code", None) not in (409, 412):
                raise
            landed = _landed(repo, branch, artifact) if attempts > 1 else None
            if landed:  # an earlier attempt went through but its answer was lost
                return landed
            raise PublishConflictError(
                f"{hub.repo_url(repo)}: the registry changed after its index was read at "
                f"{head[:12]} (another publish?), so the Hub refused the commit and nothing "
                "was written; run the command again to publish on top of the new index"
            ) from None
        return info.oid

    return hub.call(
        f"commit {folder} to {repo}", f"{settings.endpoint()}/api/models/{repo}/commit", attempt
    )


def _landed(repo: str, branch: str, artifact: Artifact) -> str | None:
    """The commit that published exactly ``artifact``, if it is on ``branch`` now."""
    now = hub.resolve(repo, branch)
    with tempfile.TemporaryDirectory(prefix="ssmhub-publish-") as scratch:
        index = hub.fetch_index(repo, now, Path(scratch))
    found = index.find(artifact.model, artifact.kind, artifact.version) if index else None
    if found is None or found.files != artifact.files:
        return None
    path = f"{artifact.path}/{CONFIG}"
    return hub.last_commits(repo, [path], now).get(path)
