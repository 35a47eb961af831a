"""Pull a network from the registry into the ssmhub cache, verified and whole.

The revision is resolved to a commit id first and everything is read at that commit, so
the index and the files always agree. Every file is checked against the sha256 the index
lists before it is used. Files land in a hidden folder beside the cache entry and the
folder is renamed into place only once all of them check out and the network loads, so a
loader never sees a half-pulled network; a lock on the entry makes concurrent pulls of the
same network (several jobs starting on a cluster) end with one good copy. Beside the files
lies the pull record (`ssmhub.network.origin.PullRecord`): repo, commit, checksums, and
whether the user asked for the network, which decides whether it outranks a plugin's.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ssmhub.files import sha256_of, write_text_atomically
from ssmhub.network.origin import PULL_RECORD, PulledFile, PullRecord, read_pull_record
from ssmhub.recipe import NetworkKind
from ssmhub.settings import cache_dir
from ssmhub_registry import hub, settings
from ssmhub_registry.errors import (
    IntegrityError,
    NotPublishedError,
    OfflineError,
    RegistryError,
)
from ssmhub_registry.index import INDEX, Artifact

REQUIRED = ("config.json", "weights.safetensors")
LOCK_TIMEOUT_S = 900
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PullResult:
    """What a pull installed, and from where."""

    path: Path
    repo: str
    artifact: Artifact
    revision: str  # the commit every file was read at
    published_in: str | None  # the commit that published the artifact, if known
    downloaded: bool  # False when the cache already held this exact artifact


def pull(
    model: str,
    kind: NetworkKind,
    repo: str | None = None,
    revision: str | None = None,
    version: str | None = None,
    explicit: bool = True,
) -> PullResult:
    """Install ``model``'s ``kind`` network from the registry into the cache.

    ``revision`` (branch, tag or commit; default ``main``) pins what is read; ``version``
    picks a published version (default: the newest at that revision). ``explicit``: the
    user asked for this network, so it outranks the one its plugin ships; the registry's
    ``locate_network``, fetching what no other source had, passes False.
    """
    from filelock import FileLock, Timeout

    repo = settings.require_repo(repo)
    target = cache_dir(model, kind)
    reason = settings.offline_reason()
    if reason:
        raise OfflineError(offline_message(model, kind, repo, reason, target))
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = target.parent / f".{kind}.lock"
    try:
        with FileLock(lock, timeout=LOCK_TIMEOUT_S):
            _clean_leftovers(target)
            return _pull_locked(
                model, kind, repo, revision or settings.DEFAULT_BRANCH, version, explicit
            )
    except Timeout:
        raise RegistryError(
            f"{lock}: another pull of {model} {kind} has held this lock for "
            f"{LOCK_TIMEOUT_S} s; wait for it, or stop it and pull again"
        ) from None


def offline_message(model: str, kind: str, repo: str, reason: str, target: Path) -> str:
    """How to get a network onto an offline machine: pull elsewhere, share SSMHUB_HOME."""
    if (target / "config.json").is_file():
        return (
            f"ssmhub is offline ({reason}), so nothing can be pulled from {repo}; the cache "
            f"already holds a {kind} network of {model!r} ({target}), which ssmhub uses as it is"
        )
    return (
        f"the {kind} network of {model!r} is not in the cache ({target}) and ssmhub is "
        f"offline ({reason}), so it cannot be pulled from {repo}. On a machine with internet "
        f"access run `SSMHUB_HOME=/shared/ssmhub ssmhub pull {model} --kind {kind} --repo "
        f"{repo}`, then set SSMHUB_HOME=/shared/ssmhub here (the same directory, e.g. on a "
        "shared filesystem). Networks shipped inside plugins work offline as they are."
    )


def _pull_locked(
    model: str, kind: NetworkKind, repo: str, revision: str, version: str | None, explicit: bool
) -> PullResult:
    target = cache_dir(model, kind)
    at = hub.resolve(repo, revision)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{kind}.index-") as scratch:
        index = hub.fetch_index(repo, at, Path(scratch))
    if index is None:
        raise RegistryError(
            f"{hub.repo_url(repo)} has no {INDEX} at {revision} ({at[:12]}): it is not an "
            "ssmhub registry yet; publish to it with `ssmhub publish`"
        )
    artifact = index.find(model, kind, version)
    if artifact is None:
        listed = [a.version for a in index.versions(model, kind)]
        wanted = f"version {version} of " if version else ""
        raise NotPublishedError(
            f"{hub.repo_url(repo)} at {revision} ({at[:12]}) lists no {wanted}{model} {kind} "
            f"network; versions listed: {', '.join(listed) or 'none'}"
        )
    check_compatible(artifact)
    published = artifact.commit or _published_in(repo, artifact, at)
    installed = _installed(target, repo, artifact)
    if installed is not None:
        if explicit and not installed.explicit:  # fetched on demand before, chosen now
            record = installed.model_copy(update={"explicit": True})
            write_text_atomically(target / PULL_RECORD, record.model_dump_json(indent=2))
        return PullResult(target, repo, artifact, at, published, downloaded=False)
    log.info("pulling %s from %s at %s into %s", artifact.path, repo, at, target)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{kind}.pull-"))
    try:
        _fetch_verified(repo, artifact, at, staging)
        _check_loads(staging, model)
        record = PullRecord(
            repo=repo,
            endpoint=settings.endpoint(),
            path=artifact.path,
            version=artifact.version,
            revision=at,
            published_in=published,
            files=tuple(PulledFile(**f.model_dump()) for f in artifact.files),
            pulled_at=datetime.now(UTC).isoformat(timespec="seconds"),
            explicit=explicit,
        )
        write_text_atomically(staging / PULL_RECORD, record.model_dump_json(indent=2))
        _make_shareable(staging)
        _swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PullResult(target, repo, artifact, at, published, downloaded=True)


def check_compatible(artifact: Artifact) -> None:
    """Refuse a network that needs another ssmhub than the one installed."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    installed = importlib.metadata.version("ssmhub")
    try:
        ok = SpecifierSet(artifact.requires_ssmhub).contains(Version(installed), prereleases=True)
    except InvalidVersion:
        ok = True  # a local development build: let the network loader judge
    if not ok:
        raise RegistryError(
            f"{artifact.path} needs ssmhub{artifact.requires_ssmhub} but ssmhub {installed} is "
            f"installed: upgrade it (pip install -U 'ssmhub{artifact.requires_ssmhub}') or pull "
            "an older version with --version"
        )


def _published_in(repo: str, artifact: Artifact, at: str) -> str | None:
    """The commit that published ``artifact`` (its files are never changed afterwards)."""
    try:
        found = hub.last_commits(repo, [f"{artifact.path}/{REQUIRED[0]}"], at)
    except RegistryError:
        return None  # only informative: the files are verified by sha256 either way
    return found.get(f"{artifact.path}/{REQUIRED[0]}")


def _fetch_verified(repo: str, artifact: Artifact, at: str, staging: Path) -> None:
    """Download each file, check its sha256 and size; a mismatch is deleted and retried once."""
    missing = [name for name in REQUIRED if name not in {f.name for f in artifact.files}]
    if missing:
        raise RegistryError(f"{artifact.path}: the index lists no {', '.join(missing)}")
    scratch = staging / ".download"
    for entry in artifact.files:
        path_in_repo = f"{artifact.path}/{entry.name}"
        for attempt in (1, 2):
            got = hub.download(repo, path_in_repo, at, scratch)
            digest, size = sha256_of(got), got.stat().st_size
            if digest == entry.sha256 and size == entry.size:
                os.replace(got, staging / entry.name)
                break
            got.unlink()
            if attempt == 2:
                from huggingface_hub import hf_hub_url

                url = hf_hub_url(repo, path_in_repo, revision=at, endpoint=settings.endpoint())
                raise IntegrityError(
                    f"{url}: sha256 {digest} ({size} bytes) does not match the registry "
                    f"index's {entry.sha256} ({entry.size} bytes), twice; the file was "
                    "deleted and nothing was installed. The registry copy is damaged or was "
                    "tampered with: tell the registry's maintainers"
                )
    shutil.rmtree(scratch, ignore_errors=True)


def _check_loads(staging: Path, model: str) -> None:
    """The network must load (and fit the installed model) before anyone can find it."""
    from ssmhub.errors import SsmhubError
    from ssmhub.network.directory import read_network
    from ssmhub.plugins import get_manager

    spec = get_manager().catalog.specs.get(model)
    try:
        read_network(staging, spec)
    except SsmhubError as exc:
        raise RegistryError(
            f"the pulled network does not load, nothing was installed: {exc}"
        ) from None


def _installed(target: Path, repo: str, artifact: Artifact) -> PullRecord | None:
    """The pull record of ``target`` if it already holds exactly this artifact, every file
    intact; else None."""
    record = read_pull_record(target)
    if record is None or (record.endpoint, record.repo, record.path) != (
        settings.endpoint(),
        repo,
        artifact.path,
    ):
        return None
    intact = all(
        (target / f.name).is_file() and sha256_of(target / f.name) == f.sha256
        for f in artifact.files
    )
    return record if intact else None


def _swap_into_place(staging: Path, target: Path) -> None:
    """Rename the finished folder to ``target``; an older network there is moved aside first."""
    aside = None
    if target.exists():
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, aside / target.name)
    os.replace(staging, target)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def _clean_leftovers(target: Path) -> None:
    """Remove folders of pulls that died (we hold the lock, so none is running)."""
    for prefix in ("pull", "old", "index"):
        for leftover in target.parent.glob(f".{target.name}.{prefix}-*"):
            shutil.rmtree(leftover, ignore_errors=True)


def _make_shareable(folder: Path) -> None:
    """Give the folder and its files the modes the umask allows (mkdtemp makes them private),
    so a cache on a shared filesystem can be read by the other users of a cluster."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~umask)
