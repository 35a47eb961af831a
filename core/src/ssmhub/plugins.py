"""Finding, loading and calling plugins.

The core's own hook implementations load first, then every entry point in the group
``ssmhub``. A plugin that fails to import, implements an unknown hook, or raises while
registering is recorded with its error and left out; the others keep working.
`PluginManager` wraps each hook in a typed method, so callers never touch pluggy.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from ssmhub import hookspecs
from ssmhub.default_plugins import PLUGINS
from ssmhub.errors import (
    ModelConflictError,
    PluginError,
    SsmhubError,
    UnknownLikelihoodError,
    UnknownModelError,
)
from ssmhub.network.directory import read_network
from ssmhub.network.loaded import Network
from ssmhub.network.origin import Origin, read_pull_record
from ssmhub.settings import offline_reason
from ssmhub.spec import ModelSpec

if TYPE_CHECKING:
    import typer

    from ssmhub.likelihood import Likelihood, LikelihoodBuilder
    from ssmhub.recipe import NetworkKind, Recipe
    from ssmhub.simulator import Simulator
    from ssmhub.trainer import Trainer

BUILTIN = "ssmhub (built-in)"
PLUGINS_ENV = "SSMHUB_PLUGINS"


# Network likelihoods in the order they measured best (docs/benchmarks.md, "The mnle network
# kind"): a normalised mnle is as faithful as the exact ddm posterior and faster than a LAN.
DEFAULT_LIKELIHOODS = ("mnle", "lan")


@dataclass
class PluginRecord:
    """What `ssmhub plugins` shows about one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "error" if self.errors else "ok"

    @property
    def label(self) -> str:
        return f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class FoundNetwork:
    """A network directory one plugin's ``locate_network`` answered with."""

    path: Path
    plugin: PluginRecord


@dataclass
class Catalog:
    """Every registered model, by name, with the plugin that registered it."""

    owners: dict[str, str] = field(default_factory=dict)
    specs: dict[str, ModelSpec] = field(default_factory=dict)
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.specs)

    def get(self, name: str) -> ModelSpec:
        if name in self.conflicts:
            raise ModelConflictError(_conflict_message(name, self.conflicts[name]))
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownModelError(name, self.names()) from None


def _conflict_message(name: str, plugins: list[str]) -> str:
    return (
        f"model {name!r} is registered by more than one plugin ({', '.join(plugins)}); "
        "neither is used until one of them is uninstalled"
    )


class PluginManager:
    """ssmhub's plugins, loaded once, with a typed method per hook."""

    def __init__(self, entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        for module in PLUGINS:
            self._register(module, module.__name__, BUILTIN, _core_version())
        if entry_points:
            self._load_entry_points()
        self.catalog = self._collect_models()

    # -- loading ---------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        wanted = os.environ.get(PLUGINS_ENV)
        allowed = None if wanted is None else {w.strip() for w in wanted.split(",") if w.strip()}
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if allowed is not None and not allowed & {ep.name, dist}:
                continue
            if ep.name in self.records:
                # Plugin names key the records and pluggy's registry: the first one keeps it.
                taken = self.records[ep.name].distribution
                self.records[f"{ep.name} ({dist})"] = PluginRecord(
                    ep.name,
                    dist,
                    version,
                    errors=[f"rejected: plugin name {ep.name!r} is already taken by {taken}"],
                )
                continue
            try:
                module = ep.load()
            except Exception as exc:
                self.records[ep.name] = PluginRecord(
                    ep.name, dist, version, errors=[f"import failed: {_describe(exc)}"]
                )
                continue
            self._register(module, ep.name, dist, version)

    def _register(self, module: ModuleType, name: str, dist: str, version: str) -> None:
        record = PluginRecord(name, dist, version)
        self.records[name] = record
        try:
            self._pm.register(module, name=name)
            self._pm.check_pending()
        except Exception as exc:
            if self._pm.is_registered(module):
                self._pm.unregister(module)
            record.errors.append(f"rejected: {_describe(exc)}")
            return
        record.hooks = sorted(caller.name for caller in self._pm.get_hookcallers(module) or [])

    def _call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[PluginRecord, list[Any]]]:
        """Call a hook plugin by plugin, so that a failure stays with its plugin.

        Yields each plugin's record with what it passed to ``register``, if the hook has one.
        """
        for impl in getattr(self._pm.hook, hook).get_hookimpls():
            items: list[Any] = []
            arguments = {**kwargs, "register": items.append, "networks": self}
            record = self.records[impl.plugin_name]
            try:
                impl.function(**{name: arguments[name] for name in impl.argnames})
            except Exception as exc:
                _record_failure(record, hook, exc)
                continue
            yield record, items

    def _answers(self, hook: str, **kwargs: Any) -> Iterator[tuple[PluginRecord, Any]]:
        """Call a first-result hook in pluggy's order, plugin by plugin, yielding each answer
        that is not None with its plugin (lazily: a caller that stops asks no further).

        A plugin that raises is not passed over: an answer of the next plugin (the default
        recipe, no network) could be wrong for a model that the failing plugin owns. An
        `SsmhubError` is the plugin speaking to the user and goes through as it is.
        """
        for impl in reversed(getattr(self._pm.hook, hook).get_hookimpls()):
            try:
                result = impl.function(**{name: kwargs[name] for name in impl.argnames})
            except SsmhubError:
                raise
            except Exception as exc:
                record = self.records[impl.plugin_name]
                message = _record_failure(record, hook, exc)
                raise PluginError(
                    f"plugin {record.name!r} ({record.label}) {message}"
                    " (uninstall it, or leave it out of SSMHUB_PLUGINS)"
                ) from exc
            if result is not None:
                yield self.records[impl.plugin_name], result

    def _first_result(self, hook: str, **kwargs: Any) -> Any:
        return next((result for _, result in self._answers(hook, **kwargs)), None)

    def _collect_models(self) -> Catalog:
        catalog = Catalog()
        claims: dict[str, list[tuple[str, ModelSpec]]] = {}
        for record, items in self._call_each("register_models"):
            bad = [item for item in items if not isinstance(item, ModelSpec)]
            if bad:
                record.errors.append(
                    f"register_models failed: registered {type(bad[0]).__name__}, "
                    "expected a ssmhub.ModelSpec"
                )
                continue
            for spec in items:
                claims.setdefault(spec.name, []).append((record.name, spec))
        for name, owners in claims.items():
            if len(owners) == 1:
                catalog.owners[name], catalog.specs[name] = owners[0]
                continue
            plugins = [plugin for plugin, _ in owners]
            catalog.conflicts[name] = plugins
            for plugin in plugins:
                self.records[plugin].errors.append(_conflict_message(name, plugins))
        return catalog

    # -- typed hook calls ------------------------------------------------------------------

    def simulator(self, spec: ModelSpec) -> Simulator:
        sim = self._first_result("model_simulator", spec=spec)
        if sim is None:
            raise SsmhubError(
                f"no simulator for model {spec.name!r}: it names no ssm-simulators model and "
                "no plugin implements model_simulator for it"
            )
        return sim

    def recipe(self, spec: ModelSpec, kind: NetworkKind) -> Recipe:
        return self._first_result("model_recipe", spec=spec, kind=kind)

    def trainers(self) -> dict[str, Trainer]:
        return {t.kind: t for _, items in self._call_each("register_trainers") for t in items}

    def likelihoods(self) -> list[LikelihoodBuilder]:
        return [b for _, items in self._call_each("register_likelihoods") for b in items]

    def find_likelihood(self, spec: ModelSpec, name: str) -> Likelihood | None:
        """The likelihood ``name`` of ``spec`` from the first builder offering it, or None."""
        for builder in self.likelihoods():
            if builder.name == name and builder.supports(spec):
                return builder.build(spec)
        return None

    def default_likelihood(self, spec: ModelSpec) -> str:
        """The likelihood a model gets unless one is named: the first of
        `DEFAULT_LIKELIHOODS` it has; if none, the last its choices allow (``lan``, or
        ``mnle`` beyond two choices), so that the error names a network it could have."""
        offered = {b.name for b in self.likelihoods() if b.supports(spec)}
        allowed = [name for name in DEFAULT_LIKELIHOODS if name in spec.network_kinds]
        return next((name for name in DEFAULT_LIKELIHOODS if name in offered), allowed[-1])

    def likelihood(self, spec: ModelSpec, name: str | None = None) -> Likelihood:
        """Like `find_likelihood`, but a missing one is an error listing the available;
        None: the model's `default_likelihood`."""
        name = name or self.default_likelihood(spec)
        found = self.find_likelihood(spec, name)
        if found is None:
            available = sorted({b.name for b in self.likelihoods() if b.supports(spec)})
            raise UnknownLikelihoodError(name, spec.name, available)
        return found

    def network_candidates(self, spec: ModelSpec, kind: NetworkKind) -> Iterator[FoundNetwork]:
        """Every source's ``kind`` network of ``spec``, in the order they are asked; the
        first is the one used (docs/offline.md, "Which copy is used")."""
        for record, path in self._answers("locate_network", spec=spec, kind=kind):
            yield FoundNetwork(Path(path), record)

    def find_network(self, spec: ModelSpec, kind: NetworkKind) -> FoundNetwork | None:
        return next(self.network_candidates(spec, kind), None)

    def locate_network(self, spec: ModelSpec, kind: NetworkKind) -> Path | None:
        found = self.find_network(spec, kind)
        return None if found is None else found.path

    def load_network(self, spec: ModelSpec, kind: NetworkKind, path: Path | None = None) -> Network:
        """The ``kind`` network of ``spec``: from ``path``, else from the first source that
        has one; checked against the installed spec, and its origin recorded."""
        found = None if path is not None else self.find_network(spec, kind)
        if path is None and found is None:
            offline = offline_reason()
            hint = (
                f"; ssmhub is offline ({offline}): on a machine with internet access run "
                f"`SSMHUB_HOME=/shared/ssmhub ssmhub pull {spec.name} --kind {kind}` and set "
                "SSMHUB_HOME=/shared/ssmhub here"
                if offline
                else ""
            )
            raise SsmhubError(
                f"no {kind} network for model {spec.name!r} in the cache, in its plugin, or in "
                f"any registry; train one with `ssmhub generate` and `ssmhub train`{hint}"
            )
        where = path if found is None else found.path
        network = read_network(where, spec)
        if network.config.kind != kind:
            raise SsmhubError(f"{where}: holds a {network.config.kind} network, not a {kind}")
        origin = self.origin(spec, found, network.weights_sha256)
        return dataclasses.replace(network, origin=origin)

    def origin(
        self, spec: ModelSpec, found: FoundNetwork | None, weights_sha256: str | None = None
    ) -> Origin:
        """Where ``found`` came from (a verified pull record makes it the registry's), and
        the versions of ssmhub and of the plugin that registers ``spec``; ``weights_sha256``
        spares hashing the weights again where they were just read."""
        versions = {
            "ssmhub_version": _core_version(),
            "model_plugin": self.records[self.catalog.owners[spec.name]].label,
        }
        if found is None:
            return Origin(source="directory", **versions)
        pulled = read_pull_record(found.path, weights_sha256)
        if pulled is not None:
            return Origin(
                source="registry",
                repo=pulled.repo,
                revision=pulled.revision,
                version=pulled.version,
                explicit_pull=pulled.explicit,
                **versions,
            )
        if found.plugin.distribution == BUILTIN:
            return Origin(source="cache", **versions)
        return Origin(source="plugin", plugin=found.plugin.label, **versions)

    def add_commands(self, app: typer.Typer) -> None:
        for _ in self._call_each("register_commands", app=app):
            pass


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _record_failure(record: PluginRecord, hook: str, exc: BaseException) -> str:
    """Note a hook's failure on its plugin's record, once (hooks may be called again)."""
    message = f"{hook} failed: {_describe(exc)}"
    if message not in record.errors:
        record.errors.append(message)
    return message


def _core_version() -> str:
    try:
        return importlib.metadata.version("ssmhub")
    except importlib.metadata.PackageNotFoundError:
        return "?"


@functools.cache
def get_manager() -> PluginManager:
    """The process-wide plugin manager, loaded on first use."""
    return PluginManager()


def list_models() -> list[ModelSpec]:
    """Every installed model, sorted by name."""
    catalog = get_manager().catalog
    return [catalog.specs[n] for n in catalog.names()]


def get_model(name: str) -> ModelSpec:
    """The spec of an installed model; an unknown name lists the installed ones."""
    return get_manager().catalog.get(name)


def load_network(model: str, kind: NetworkKind, path: Path | None = None) -> Network:
    """The ``kind`` network of ``model``: from ``path``, else from the first source that has
    one (an explicit pull, the plugins' shipped networks, the cache, remote registries)."""
    manager = get_manager()
    return manager.load_network(manager.catalog.get(model), kind, path)
