"""The hooks a plugin may implement.

Every hook is listed here with its signature and its contract; built-in plugins
(`ssmhub.default_plugins`, `ssmhub_ddm`, ...) use exactly these hooks, as an outside plugin
would. A plugin implements a hook by defining a function of the same name decorated with
`ssmhub.hookimpl`; implementations of names not listed here are rejected when loading.

Three families: models and their simulators, training (recipes and trainers), and inference
(likelihood builders and the network sources they read from). `register_commands` lets a
plugin add CLI commands, as `ssmhub-registry` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from ssmhub.likelihood import LikelihoodBuilder, NetworkSource
    from ssmhub.recipe import NetworkKind, Recipe
    from ssmhub.simulator import Simulator
    from ssmhub.spec import ModelSpec
    from ssmhub.trainer import Trainer

PROJECT = "ssmhub"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register models by calling ``register(spec)`` once per `ModelSpec`.

    Names are global: two plugins registering one name is reported as a conflict and
    neither model is used until one plugin is removed.
    """


@hookspec(firstresult=True)
def model_simulator(spec: ModelSpec) -> Simulator | None:
    """Return the simulator for ``spec``, or None to leave it to another plugin.

    The first non-None answer wins. The core answers last, with ssm-simulators, for specs
    that name an ``ssms_model``; a model that ssm-simulators lacks brings its own here.
    """


@hookspec(firstresult=True)
def model_recipe(spec: ModelSpec, kind: NetworkKind) -> Recipe | None:
    """Return how training data for a ``kind`` network of ``spec`` is made, or None.

    The first non-None answer wins; the core answers last with a generic KDE recipe over
    the spec's bounds, so every model can be trained, and plugins answer with tuned ones.
    """


@hookspec
def register_trainers(register: Callable[[Trainer], None]) -> None:
    """Register trainers by calling ``register(trainer)``; the last one per kind is used.

    The core registers trainers for ``lan`` and ``cpn`` (MLPs) and ``mnle``; a plugin may
    register another architecture for any kind (the network format and loader stay the
    core's).
    """


@hookspec
def register_likelihoods(
    register: Callable[[LikelihoodBuilder], None], networks: NetworkSource
) -> None:
    """Register likelihood builders by calling ``register(builder)``.

    A builder turns a model into per-trial JAX log-likelihoods that the core wraps into a
    PyTensor Op. The core registers ``lan`` and ``mnle`` (networks, for every model); the
    ddm plugin registers ``exact`` (Navarro-Fuss). A builder that reads trained networks
    takes ``networks`` (the plugin manager: ``locate_network`` and ``load_network``), so
    it finds them as every other part of ssmhub does; others leave the argument out.
    """


@hookspec(firstresult=True)
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    """Return the directory of a trained ``kind`` network for ``spec``, or None.

    Sources answer in order: a network the user pulled explicitly from a registry (core,
    ``tryfirst``), networks shipped inside a plugin's package, any other copy in the
    user's cache (core, asked after the plugins), then remote registries
    (``ssmhub-registry``, ``trylast``), which honour offline mode.
    """


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands to the ``ssmhub`` CLI, e.g. ``@app.command()``."""
