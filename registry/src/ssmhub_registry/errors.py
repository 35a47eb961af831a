"""Registry errors: each names the file, URL or repo involved and says what to do.

All are `ssmhub.errors.SsmhubError`s, so the ``ssmhub`` CLI prints them without a
traceback and exits with code 2.
"""

from __future__ import annotations

from ssmhub.errors import SsmhubError


class RegistryError(SsmhubError):
    """A registry operation that cannot go on (a bad repo, revision or version)."""


class OfflineError(RegistryError):
    """The registry is needed but ssmhub is offline (HF_HUB_OFFLINE / SSMHUB_OFFLINE)."""


class HubUnavailableError(RegistryError):
    """The Hub kept failing (server errors, time-outs) after every retry."""


class IntegrityError(RegistryError):
    """A fetched file does not match the sha256 the registry index lists for it."""


class IndexSchemaError(RegistryError):
    """``index.json`` is malformed or written by a newer ssmhub-registry."""


class PublishRefusedError(RegistryError):
    """An artifact that must not be published (no accuracy report, invalid, a taken version)."""


class PublishConflictError(RegistryError):
    """The registry changed between reading its index and committing: nothing was written."""


class NotPublishedError(RegistryError):
    """The registry lists no such network (or no such version of it)."""
