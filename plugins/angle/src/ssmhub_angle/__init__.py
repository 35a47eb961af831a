"""The angle model (a ddm with linearly collapsing bounds) for ssmhub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind, SolverGrid

# Names, bounds and defaults follow ssm-simulators 0.15's model_config["angle"].
SPEC = ModelSpec(
    name="angle",
    description=(
        "Drift diffusion with bounds that collapse linearly from +/-a at angle theta "
        "(radians), reaching zero at time a / tan(theta). Note that a is half the initial "
        "boundary separation."
    ),
    parameters=(
        Parameter(name="v", lower=-3.0, upper=3.0, default=0.0, description="drift rate"),
        Parameter(
            name="a",
            lower=0.3,
            upper=3.0,
            default=1.0,
            description="half the initial boundary separation",
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
            name="theta",
            lower=-0.1,
            upper=1.3,
            default=0.0,
            description="angle of the bound's collapse in radians",
        ),
    ),
    non_decision_time="t",
    choices=(-1, 1),
    choice_meanings=("lower bound", "upper bound"),
    ssms_model="angle",
    # Gaussian noise, one accumulator, time-varying bounds: a Fokker-Planck solution (PyDDM)
    # gives labels without KDE noise.
    recipes=(
        # Many parameter sets matter more than fine labels: on this grid the labels miss the
        # exact ddm by 0.0022 nats (median) and 0.037 (p99), well below the LAN's bar, for a
        # third of the finer grid's cost (benchmarks/pyddm_accuracy.py).
        Recipe(
            kind="lan",
            estimator="pyddm",
            n_parameter_sets=16_000,
            n_training_points=1_000,
            grid=SolverGrid(dt=0.002, dx=0.004),
            shard_size=100,
        ),
        # P(upper) alone is accurate to ~2e-4 (median) on a coarser grid, for a third of the cost.
        Recipe(
            kind="cpn",
            estimator="pyddm",
            n_parameter_sets=6_000,
            grid=SolverGrid(dt=0.002, dx=0.005),
            shard_size=500,
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
    return shipped_network(__name__, kind) if spec.name == SPEC.name else None
