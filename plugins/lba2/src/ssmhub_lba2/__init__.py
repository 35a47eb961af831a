"""The linear ballistic accumulator with two accumulators (lba2) for ssmhub.

ssm-simulators simulates it (its model lba2); `ssmhub_lba2.exact` is its closed-form
likelihood, for any number of accumulators (the lba3 plugin uses it too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.likelihood import ClosedFormLikelihood, LikelihoodBuilder
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind

# Names, defaults and choices follow ssm-simulators 0.15's model_config["lba2"]; so do the
# bounds, except A and b. Their box there is A, b in [0, 1] each, but ssm-simulators samples
# training parameters with SwapIfLessConstraint("b", "A"), so it never simulates b < A: there
# a start point can lie above the threshold, and its simulator (cssm.lba_vanilla) returns that
# trial with a *negative* rt, which is no reaction time (and ssmhub's simulator contract
# requires rt > 0). A spec's box is a rectangle, so the largest one inside b >= A is taken:
# A in [0, 0.5], b in [0.5, 1]. The exact likelihood is right outside it too (README).
SPEC = ModelSpec(
    name="lba2",
    description=(
        "Linear ballistic accumulator, two accumulators (Brown & Heathcote, 2008): each starts "
        "uniformly in [0, A] and rises linearly, at a rate |N(v_k, 0.1)| drawn per trial, to "
        "the threshold b; the first to arrive gives the response and the rt (no non-decision "
        "time)."
    ),
    parameters=(
        Parameter(
            name="A",
            lower=0.0,
            upper=0.5,
            default=0.3,
            description="range of the uniform start point, [0, A]",
        ),
        Parameter(
            name="b",
            lower=0.5,
            upper=1.0,
            default=0.5,
            description="threshold (absolute, not above A)",
        ),
        Parameter(
            name="v0",
            lower=0.0,
            upper=1.0,
            default=0.5,
            description="mean drift rate of accumulator 0 (sd 0.1, folded at 0)",
        ),
        Parameter(
            name="v1",
            lower=0.1,
            upper=1.1,
            default=0.5,
            description="mean drift rate of accumulator 1 (sd 0.1, folded at 0)",
        ),
    ),
    non_decision_time=None,
    choices=(0, 1),
    choice_meanings=("accumulator 0 first", "accumulator 1 first"),
    ssms_model="lba2",
    # The exact likelihood needs no network; an mnle network (raw simulated trials, two
    # million of them) is the amortised alternative.
    recipes=(
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
    # Trained networks ship as package data in networks/<kind>/ (the directories
    # `ssmhub train` writes); until one is added there are none.
    return shipped_network(__name__, kind) if spec.name == SPEC.name else None


@hookimpl
def register_likelihoods(register: Callable[[LikelihoodBuilder], None]) -> None:
    register(ClosedFormLikelihood.from_module(SPEC, "ssmhub_lba2.exact"))
