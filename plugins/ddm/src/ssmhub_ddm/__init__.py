"""The drift diffusion model (ddm) for ssmhub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.likelihood import ClosedFormLikelihood, LikelihoodBuilder
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind

# Names, bounds and defaults follow ssm-simulators 0.15's model_config["ddm"].
SPEC = ModelSpec(
    name="ddm",
    description=(
        "Drift diffusion model: noisy evidence (unit diffusion coefficient) accumulates at "
        "drift rate v between two constant bounds at -a and +a, starting at -a + 2az; "
        "response 1 is the upper bound. Note that a is half the boundary separation."
    ),
    parameters=(
        Parameter(name="v", lower=-3.0, upper=3.0, default=0.0, description="drift rate"),
        Parameter(
            name="a", lower=0.3, upper=2.5, default=1.0, description="half the boundary separation"
        ),
        Parameter(
            name="z",
            lower=0.1,
            upper=0.9,
            default=0.5,
            description="relative starting point (0.5: unbiased)",
        ),
        Parameter(
            name="t",
            lower=0.0,
            upper=2.0,
            default=0.001,
            description="non-decision time in seconds",
        ),
    ),
    non_decision_time="t",
    choices=(-1, 1),
    choice_meanings=("lower bound", "upper bound"),
    ssms_model="ddm",
    # The ddm has a closed-form density: exact labels beat any KDE at no simulation cost.
    recipes=(
        # Labels are exact, so the simulations only supply rt draws from the model.
        Recipe(
            kind="lan",
            estimator="exact",
            n_parameter_sets=20_000,
            n_simulations=2_000,
            n_training_points=1_000,
        ),
        Recipe(kind="cpn", estimator="exact", n_parameter_sets=200_000, shard_size=10_000),
        # Four million raw trials, about two minutes of simulation on two cores: twice the
        # first recipe's, which halved the p99 error (docs/benchmarks.md).
        Recipe(
            kind="mnle",
            estimator="simulation",
            n_parameter_sets=400_000,
            n_simulations=10,
            shard_size=10_000,
        ),
    ),
)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(SPEC)


@hookimpl
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    return shipped_network(__name__, kind) if spec.name == SPEC.name else None


@hookimpl
def register_likelihoods(register: Callable[[LikelihoodBuilder], None]) -> None:
    register(ClosedFormLikelihood.from_module(SPEC, "ssmhub_ddm.exact"))
