"""Publish and pull ssmhub networks through a Hugging Face Hub registry.

A plugin of ssmhub (entry point ``registry``) with two hooks:

- ``locate_network`` (``trylast``: after the cache and the networks shipped in plugins):
  when ``SSMHUB_REGISTRY`` names a registry repo and ssmhub is online, pull the network
  into the cache (`ssmhub_registry.pull.pull`, recorded as fetched on demand, not as an
  explicit pull: a plugin that ships the network later takes precedence) and return its
  cache path;
- ``register_commands``: ``ssmhub pull``, ``publish``, ``networks`` and ``export``.

The Python API: `ssmhub_registry.pull.pull`, `ssmhub_registry.publish.publish`,
`ssmhub_registry.listing`, `ssmhub_registry.onnx_export.export_onnx` and the index schema
in `ssmhub_registry.index`. Nothing heavy (huggingface_hub, onnx) is imported until used.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ssmhub import hookimpl

if TYPE_CHECKING:
    import typer

    from ssmhub.recipe import NetworkKind
    from ssmhub.spec import ModelSpec


class RegistryUnavailableWarning(UserWarning):
    """The registry could not be reached; networks are looked for without it."""


# What this process learnt not to ask again: (endpoint, repo, revision, model, kind) the
# registry does not list, and (endpoint, repo, revision) that did not answer. Likelihood
# builders ask for networks several times per model (is there a LAN? a CPN?).
_unlisted: set[tuple[str, ...]] = set()
_unreachable: set[tuple[str, ...]] = set()


@hookimpl(trylast=True)
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    """The network from the configured registry, pulled into the cache; None if there is no
    registry, ssmhub is offline, or the registry does not list this network.

    A registry that does not answer gives a `RegistryUnavailableWarning` and None, so that
    likelihoods that need no network (a closed form) still work; any other registry error
    (a wrong repo, a file that fails its checksum) is raised.
    """
    from ssmhub_registry import settings
    from ssmhub_registry.listing import hub_source_off

    repo = settings.registry_repo()
    if not repo or settings.offline_reason() or hub_source_off.get():
        return None
    from ssmhub_registry.errors import HubUnavailableError, NotPublishedError
    from ssmhub_registry.pull import pull

    revision = os.environ.get(settings.REVISION_ENV) or settings.DEFAULT_BRANCH
    where = (settings.endpoint(), repo, revision)
    if (*where, spec.name, kind) in _unlisted or where in _unreachable:
        return None
    try:
        return pull(spec.name, kind, repo, revision, explicit=False).path
    except NotPublishedError:
        _unlisted.add((*where, spec.name, kind))
    except HubUnavailableError as exc:
        _unreachable.add(where)
        warnings.warn(
            f"{exc}. Networks are looked for without the registry {repo} until ssmhub restarts",
            RegistryUnavailableWarning,
            stacklevel=2,
        )
    return None


@hookimpl
def register_commands(app: typer.Typer) -> None:
    from ssmhub_registry.cli import register

    register(app)
