"""The drift diffusion model with trial-to-trial drift variability (ddm_sdv) for ssmhub.

ssm-simulators simulates it (its model ddm_sdv); `ssmhub_ddm_sdv.exact` gives its
likelihood in closed form.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.likelihood import ClosedFormLikelihood, LikelihoodBuilder
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind

# Names, bounds, defaults and choices follow ssm-simulators 0.15.0's model_config["ddm_sdv"]
# (simulator cssm.full_ddm_rv, start and non-decision time fixed).
SPEC = ModelSpec(
    name="ddm_sdv",
    description=(
        "Drift diffusion model with normally distributed drift: as the ddm (unit diffusion "
        "coefficient, bounds at -a and +a, start at -a + 2az, response 1 the upper bound), "
        "with the drift drawn on each trial from N(v, sv^2). Note that a is half the boundary "
        "separation."
    ),
    parameters=(
        Parameter(name="v", lower=-3.0, upper=3.0, default=0.0, description="mean drift rate"),
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
            lower=0.001,
            upper=2.0,
            default=0.001,
            description="non-decision time in seconds",
        ),
        Parameter(
            name="sv",
            lower=0.001,
            upper=2.5,
            default=0.001,
            description="standard deviation of the drift rate across trials",
        ),
    ),
    non_decision_time="t",
    choices=(-1, 1),
    choice_meanings=("lower bound", "upper bound"),
    ssms_model="ddm_sdv",
    recipes=(
        # Four million raw trials for an MNLE network, as for the ddm.
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
    register(ClosedFormLikelihood.from_module(SPEC, "ssmhub_ddm_sdv.exact"))
