"""The levy model (a ddm with alpha-stable noise) for ssmhub, simulated by ssm-simulators
(its model "levy")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind

# Names, bounds, defaults and choices follow ssm-simulators 0.15.0's
# model_config["levy"]. The spec names that model in `ssms_model`, so the core
# simulates it with ssm-simulators: no simulator to write. The bounds are the box the
# networks are trained on; narrow them to what your data need.
SPEC = ModelSpec(
    name="levy",
    description=(
        "Drift diffusion with Levy-flight noise: evidence drifts at rate v and moves by "
        "symmetric alpha-stable increments (scale dt^(1/alpha)) between constant bounds at -a "
        "and +a, starting at -a + 2az. alpha = 2 is Gaussian noise (variance 2 per second); "
        "smaller alpha gives heavier tails, i.e. sudden jumps. Response 1 is the upper bound. "
        "Note that a is half the boundary separation."
    ),
    parameters=(
        Parameter(name="v", lower=-3.0, upper=3.0, default=0.0, description="drift rate"),
        Parameter(
            name="a", lower=0.3, upper=3.0, default=1.0, description="half the boundary separation"
        ),
        Parameter(
            name="z",
            lower=0.1,
            upper=0.9,
            default=0.5,
            description="relative starting point (0.5: unbiased)",
        ),
        Parameter(
            name="alpha",
            lower=1.0,
            upper=2.0,
            default=1.5,
            description="stability of the noise (2: Gaussian; lower: heavier-tailed jumps)",
        ),
        Parameter(
            name="t",
            lower=0.001,
            upper=2.0,
            default=0.1,
            description="non-decision time in seconds",
        ),
    ),
    non_decision_time="t",
    choices=(-1, 1),
    choice_meanings=("lower bound", "upper bound"),
    ssms_model="levy",
    # PyDDM cannot solve this model (Non-Gaussian noise (levy) not supported by PyDDM), so
    # training data are labelled by KDE over simulations. A KDE's cost grows with the
    # simulations it smooths: about 2 s per parameter set at 20,000 (0.5 s simulating, 1.5 s
    # of KDE), so these sizes take about 15 minutes per network on two cores
    # (docs/benchmarks.md). The CPN's label is the share of upper responses among the
    # simulations (binomial error <= 0.0035 at 20,000), which costs only the simulations.
    recipes=(
        Recipe(
            kind="lan",
            estimator="kde",
            n_parameter_sets=1_000,
            n_simulations=20_000,
            n_training_points=2_000,
            shard_size=50,
        ),
        Recipe(
            kind="cpn",
            estimator="kde",
            n_parameter_sets=3_000,
            n_simulations=20_000,
            shard_size=250,
        ),
        # Simulated trials for the normalised network (maximum likelihood on the simulations):
        # the same 4,000,000 trials as the ddm's; about 3 minutes on 2 cores.
        Recipe(
            kind="mnle",
            estimator="simulation",
            n_parameter_sets=400_000,
            n_simulations=10,
            shard_size=5_000,
        ),
    ),
)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register(SPEC)


@hookimpl
def locate_network(spec: ModelSpec, kind: NetworkKind) -> Path | None:
    # Trained networks ship as package data in networks/lan/ and networks/cpn/ (the
    # directories `ssmhub train` writes); until you add them there are none.
    return shipped_network(__name__, kind) if spec.name == SPEC.name else None
