"""The likelihood contract: what the `register_likelihoods` hook registers.

A builder hands back plain JAX functions; turning them into a PyTensor Op with gradients
is the core's job, done once for every builder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ssmhub.spec import ModelSpec

if TYPE_CHECKING:
    from ssmhub.network import Network
    from ssmhub.recipe import NetworkKind

Array = Any  # a jax.Array; jax is imported only where networks are used

# Decision times below this are seen as this by networks (the likelihood there is guarded).
MIN_DECISION_TIME = 1e-4


class Likelihood(NamedTuple):
    """Per-trial log-likelihoods of one model as JAX functions.

    ``logp_rt(params, rt, response)`` scores trials with a reaction time; ``logp_choice(params,
    response)`` scores a response alone (None if the builder cannot). ``params`` is (N, P) in
    the spec's parameter order, or (1, P) when every trial shares one row; every function
    returns (N,). ``box`` is where the likelihood can be trusted (a network's training box);
    the core gives -inf outside it unless the user asks to extrapolate. None means no such
    limit (a closed form). ``max_rt`` is the longest reaction time it can score, the horizon
    of a network's training data: observed trials beyond it are refused, never extrapolated
    to (None: no limit).

    ``by_row=True`` says both functions also take a last argument ``row``, (N,) ints, with
    ``params`` then (G, P): trial n has the parameters of row ``row[n]``. The core passes
    it for trials that share their parameters by construction (`ssmhub.trial_groups`), so
    that work which depends on the parameters alone (an ``mnle`` network) is done once per
    group instead of once per trial.

    ``provenance`` describes what the functions were made from, one record per network
    (`ssmhub.network.Network.provenance`); every fit stores it beside its draws.
    """

    logp_rt: Callable[..., Array]
    logp_choice: Callable[..., Array] | None
    box: dict[str, tuple[float, float]] | None = None
    by_row: bool = False
    max_rt: float | None = None
    provenance: tuple[dict[str, Any], ...] = ()


class NetworkSource(Protocol):
    """Finds a model's trained networks: what `register_likelihoods` hands a builder that
    needs them (the plugin manager, which asks every plugin's ``locate_network``)."""

    def locate_network(self, spec: ModelSpec, kind: NetworkKind) -> Path | None: ...

    def load_network(self, spec: ModelSpec, kind: NetworkKind) -> Network: ...


class LikelihoodBuilder(Protocol):
    """Builds a `Likelihood` for the models it supports, under a name users select."""

    name: str

    def supports(self, spec: ModelSpec) -> bool: ...

    def build(self, spec: ModelSpec) -> Likelihood: ...


@dataclass(frozen=True)
class ClosedFormLikelihood:
    """A builder for models whose likelihood is known in closed form (e.g. the ddm's)."""

    name: str
    models: frozenset[str]
    likelihood: Likelihood

    @classmethod
    def from_module(cls, spec: ModelSpec, module: str, name: str = "exact") -> ClosedFormLikelihood:
        """``spec``'s closed form from ``module``, which defines ``logpdf`` and
        ``log_choice_probability`` with `Likelihood`'s signatures; imported and jitted here,
        so that a plugin imports JAX only when likelihoods are asked for."""
        import importlib

        import jax

        found = importlib.import_module(module)
        likelihood = Likelihood(jax.jit(found.logpdf), jax.jit(found.log_choice_probability))
        return cls(name, frozenset({spec.name}), likelihood)

    def supports(self, spec: ModelSpec) -> bool:
        return spec.name in self.models

    def build(self, spec: ModelSpec) -> Likelihood:
        return self.likelihood
