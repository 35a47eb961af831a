"""The few Hub calls the registry makes, each with a time-out and retried with back-off.

``huggingface_hub`` does the HTTP. Downloads use ``hf_hub_download`` with
``force_download=True`` into a fresh folder: that skips its shared cache (we verify and keep
files ourselves) and its own slow-retry path (a 60-second time-out, several times over), so
the retries, their back-off and the final message are ours. Errors come out as
`ssmhub_registry.errors` with the URL and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ssmhub_registry import settings
from ssmhub_registry.errors import HubUnavailableError, OfflineError, RegistryError
from ssmhub_registry.index import INDEX, RegistryIndex, parse_index

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
LIBRARY = "ssmhub-registry"


class MissingEntryError(RegistryError):
    """A file that is not in the repo at that revision."""


def api() -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=settings.endpoint(), library_name=LIBRARY, library_version=_version())


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(LIBRARY)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def check_online(what: str) -> None:
    reason = settings.offline_reason()
    if reason:
        raise OfflineError(f"cannot {what}: ssmhub is offline ({reason}); unset it to use the Hub")


def call[T](what: str, url: str, fn: Callable[[], T]) -> T:
    """``fn()``, retried with exponential back-off on server errors and time-outs."""
    attempts, wait = settings.retries(), settings.backoff()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except RegistryError:
            raise
        except Exception as exc:
            if _is_transient(exc) and attempt < attempts:
                time.sleep(min(wait * 2 ** (attempt - 1), 8.0))
                continue
            translated = _translate(exc, what, url, attempt)
            if translated is exc:
                raise
            raise translated from exc
    raise AssertionError("unreachable")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__])


def _transport_errors() -> tuple[type[Exception], ...]:
    try:
        import httpx2 as httpx  # the HTTP client of huggingface_hub 2.x
    except ImportError:  # pragma: no cover - older or newer clients
        import httpx  # type: ignore[no-redef]
    return (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_transient(exc: BaseException) -> bool:
    transport = _transport_errors()
    return any(isinstance(e, transport) or _status(e) in RETRY_STATUS for e in _chain(exc))


def _translate(exc: Exception, what: str, url: str, attempts: int) -> Exception:
    from huggingface_hub.errors import (
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    chain = list(_chain(exc))
    if any(isinstance(e, OfflineModeIsEnabled) for e in chain):
        return OfflineError(
            f"{what}: huggingface_hub is in offline mode (HF_HUB_OFFLINE was set when it was "
            "imported); unset HF_HUB_OFFLINE and start a new process to use the Hub"
        )
    if any(isinstance(e, RevisionNotFoundError) for e in chain):
        return RegistryError(f"{what}: {url}: no such revision (a branch, tag or commit id)")
    if any(isinstance(e, RemoteEntryNotFoundError) for e in chain):
        return MissingEntryError(f"{what}: {url}: no such file at this revision")
    if any(isinstance(e, RepositoryNotFoundError) for e in chain):
        return RegistryError(
            f"{what}: {url}: repository not found; check --repo / SSMHUB_REGISTRY, and log in "
            "(`hf auth login` or HF_TOKEN) if it is private"
        )
    if _is_transient(exc):
        transport = _transport_errors()
        cause = next(
            (f"HTTP {_status(e)}" for e in chain if _status(e) in RETRY_STATUS),
            next((type(e).__name__ for e in chain if isinstance(e, transport)), "no answer"),
        )
        return HubUnavailableError(
            f"{what}: {url} failed ({cause}) on all {attempts} attempts. Check the connection "
            f"and HF_ENDPOINT ({settings.endpoint()}), try again later (SSMHUB_HUB_RETRIES, "
            "HF_HUB_ETAG_TIMEOUT allow more patience), or work from the cache with "
            "SSMHUB_OFFLINE=1"
        )
    status = next((_status(e) for e in chain if _status(e) is not None), None)
    if status in (401, 403):
        return RegistryError(
            f"{what}: {url}: HTTP {status}, not allowed; log in with `hf auth login` or set "
            "HF_TOKEN to a token with write access to the repo"
        )
    if status is not None:
        return RegistryError(f"{what}: {url}: HTTP {status}: {exc}")
    return exc


# -- calls ---------------------------------------------------------------------------------


def repo_url(repo: str) -> str:
    return f"{settings.endpoint()}/{repo}"


def resolve(repo: str, revision: str) -> str:
    """The commit id that ``revision`` (a branch, tag or commit) points to now."""
    url = f"{settings.endpoint()}/api/models/{repo}/revision/{revision}"
    info = call(
        f"resolve revision {revision!r} of {repo}",
        url,
        lambda: api().model_info(repo, revision=revision, timeout=settings.timeout()),
    )
    if not info.sha:
        raise RegistryError(f"{url}: the Hub gave no commit id for revision {revision!r}")
    return info.sha


def download(repo: str, path: str, commit: str, local_dir: Path) -> Path:
    """Fetch ``path`` as of ``commit`` into ``local_dir`` (always from the network)."""
    from huggingface_hub import hf_hub_download, hf_hub_url

    url = hf_hub_url(repo, path, revision=commit, endpoint=settings.endpoint())

    def fetch() -> Path:
        return Path(
            hf_hub_download(
                repo,
                path,
                revision=commit,
                local_dir=local_dir,
                force_download=True,
                etag_timeout=settings.timeout(),
                endpoint=settings.endpoint(),
                library_name=LIBRARY,
                library_version=_version(),
            )
        )

    return call(f"download {path}", url, fetch)


def fetch_index(repo: str, commit: str, scratch: Path) -> RegistryIndex | None:
    """The registry index as of ``commit``, or None if the repo has none yet."""
    from huggingface_hub import hf_hub_url

    try:
        path = download(repo, INDEX, commit, scratch)
    except MissingEntryError:
        return None
    return parse_index(path.read_bytes(), hf_hub_url(repo, INDEX, revision=commit))


def paths_info(repo: str, paths: list[str], revision: str, expand: bool = False) -> list[RepoFile]:
    """The files among ``paths`` at ``revision``; with ``expand``, their last commits.

    ``HfApi.get_paths_info`` takes no time-out, so the same endpoint is called through
    ``huggingface_hub.utils.http_backoff``, which does.
    """
    from urllib.parse import quote

    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff

    url = f"{settings.endpoint()}/api/models/{repo}/paths-info/{quote(revision, safe='')}"

    def fetch() -> list[RepoFile]:
        response = http_backoff(
            "POST",
            url,
            max_retries=0,
            retry_on_exceptions=(),
            retry_on_status_codes=(),
            data={"paths": paths, "expand": expand},
            headers=build_hf_headers(library_name=LIBRARY, library_version=_version()),
            timeout=settings.timeout(),
        )
        hf_raise_for_status(response)
        return [RepoFile(**item) for item in response.json() if item.get("type") == "file"]

    return call(f"list {len(paths)} path(s) of {repo}", url, fetch)


def last_commits(repo: str, paths: list[str], revision: str) -> dict[str, str]:
    """For each of ``paths`` present at ``revision``, the last commit that changed it."""
    if not paths:
        return {}
    return {
        f.path: f.last_commit.oid
        for f in paths_info(repo, paths, revision, expand=True)
        if f.last_commit is not None
    }
