"""Where the registry is and how to reach it, read from the environment at call time.

``huggingface_hub`` reads its environment once, at import; reading ours on every call
means a process (or a test) that changes ``HF_ENDPOINT`` or ``SSMHUB_OFFLINE`` is obeyed.

| variable | meaning |
| --- | --- |
| ``SSMHUB_REGISTRY`` | the registry's Hub repo id: ``locate_network``'s, and ``--repo``'s default |
| ``SSMHUB_REGISTRY_REVISION`` | the branch, tag or commit ``locate_network`` reads (``main``) |
| ``SSMHUB_OFFLINE``, ``HF_HUB_OFFLINE`` | never contact the Hub; use the cache and plugins only |
| ``HF_ENDPOINT`` | the Hub's URL (a mirror, or a test server) |
| ``HF_HUB_ETAG_TIMEOUT`` | seconds to wait for the Hub to answer (default 10) |
| ``SSMHUB_HUB_RETRIES`` | attempts per request on server errors and time-outs (default 4) |
| ``SSMHUB_HUB_BACKOFF`` | first wait between attempts in seconds, doubled each time (default 1) |
"""

from __future__ import annotations

import os

from ssmhub.settings import offline_reason
from ssmhub_registry.errors import RegistryError

__all__ = ["offline_reason"]  # the core's (`ssmhub.settings`), so one variable rules both

REGISTRY_ENV = "SSMHUB_REGISTRY"
REVISION_ENV = "SSMHUB_REGISTRY_REVISION"
DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_BRANCH = "main"


def registry_repo(repo: str | None = None) -> str | None:
    """``repo`` if given, else ``SSMHUB_REGISTRY``, else None."""
    return repo or os.environ.get(REGISTRY_ENV) or None


def require_repo(repo: str | None) -> str:
    found = registry_repo(repo)
    if not found:
        raise RegistryError(
            f"no registry given: pass --repo OWNER/NAME or set {REGISTRY_ENV}=OWNER/NAME"
        )
    if found.count("/") != 1 or not all(found.split("/")):
        raise RegistryError(f"registry {found!r} is not a Hub repo id of the form OWNER/NAME")
    return found


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def timeout() -> float:
    return _number("HF_HUB_ETAG_TIMEOUT", 10.0)


def retries() -> int:
    return max(1, int(_number("SSMHUB_HUB_RETRIES", 4)))


def backoff() -> float:
    return _number("SSMHUB_HUB_BACKOFF", 1.0)


def _number(name: str, default: float) -> float:
    value = os.environ.get(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise RegistryError(f"{name}={value!r} is not a number") from None
