"""The racing diffusion model with three accumulators (racing_diffusion_3) for ssmhub.

ssm-simulators simulates it (its model racing_diffusion_3); `ssmhub_racing_diffusion_3.exact`
gives its likelihood in closed form.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.likelihood import ClosedFormLikelihood, LikelihoodBuilder
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind

# Names, bounds, defaults and choices follow ssm-simulators 0.15.0's
# model_config["racing_diffusion_3"] (simulator cssm.racing_diffusion_model), but for b's
# lower bound: 1 (ssm-simulators: 0.5), so that b >= A everywhere in the box. Where A > b an
# accumulator can start past its threshold and end the trial at once, a point mass at rt = t
# that neither the closed form nor a network's density represents (Tillman et al. require
# b >= A); this is the largest box with that property that keeps A's whole range.
SPEC = ModelSpec(
    name="racing_diffusion_3",
    description=(
        "Racing diffusion model (Tillman, Van Zandt & Logan, 2020): three independent "
        "accumulators, one per response, each a Wiener process with drift v_k and unit "
        "diffusion coefficient starting uniformly on [0, A]; the first to reach the threshold "
        "b (b >= A) gives the response."
    ),
    parameters=(
        Parameter(
            name="v0", lower=0.0, upper=2.5, default=1.0, description="drift rate of response 0"
        ),
        Parameter(
            name="v1", lower=0.0, upper=2.5, default=1.0, description="drift rate of response 1"
        ),
        Parameter(
            name="v2", lower=0.0, upper=2.5, default=1.0, description="drift rate of response 2"
        ),
        Parameter(
            name="A",
            lower=0.0,
            upper=1.0,
            default=0.5,
            description="start-point variability: each accumulator starts uniformly on [0, A]",
        ),
        Parameter(
            name="b",
            lower=1.0,
            upper=3.0,
            default=1.5,
            description="threshold, measured from 0 (not from the start point)",
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
    choices=(0, 1, 2),
    choice_meanings=("accumulator 0 first", "accumulator 1 first", "accumulator 2 first"),
    ssms_model="racing_diffusion_3",
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
    register(ClosedFormLikelihood.from_module(SPEC, "ssmhub_racing_diffusion_3.exact"))
