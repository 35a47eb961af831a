"""The ornstein model (a ddm with leaky or self-exciting evidence) for ssmhub, simulated by
ssm-simulators (its model "ornstein")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ssmhub import ModelSpec, Parameter, Recipe, hookimpl
from ssmhub.network import shipped_network
from ssmhub.recipe import NetworkKind, SolverGrid

# Names, bounds, defaults and choices follow ssm-simulators 0.15.0's
# model_config["ornstein"]. The spec names that model in `ssms_model`, so the core
# simulates it with ssm-simulators: no simulator to write. The bounds are the box the
# networks are trained on; narrow them to what your data need.
SPEC = ModelSpec(
    name="ornstein",
    description=(
        "Drift diffusion whose evidence x leaks or self-excites: dx = (v - g x) dt + dW (unit "
        "noise) between constant bounds at -a and +a, starting at -a + 2az; g > 0 pulls x back "
        "towards v / g (leaky integration), g < 0 pushes it away, g = 0 is the ddm. Response "
        "1 is the upper bound. Note that a is half the boundary separation."
    ),
    parameters=(
        Parameter(name="v", lower=-2.0, upper=2.0, default=0.0, description="drift rate"),
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
            name="g",
            lower=-1.0,
            upper=1.0,
            default=0.0,
            description="leak (> 0) or self-excitation (< 0) of the evidence, per second",
        ),
        Parameter(
            name="t",
            lower=0.001,
            upper=2.0,
            default=0.001,
            description="non-decision time in seconds",
        ),
    ),
    non_decision_time="t",
    choices=(-1, 1),
    choice_meanings=("lower bound", "upper bound"),
    ssms_model="ornstein",
    # PyDDM solves this model's Fokker-Planck equation (drift v - g x), so training labels carry
    # no KDE noise. The LAN needs as many parameter sets as angle's (1,500 left it at twice the
    # bar); on angle's LAN grid a solve takes about 0.4 s, on the CPN's about 0.25 s
    # (docs/benchmarks.md).
    recipes=(
        Recipe(
            kind="lan",
            estimator="pyddm",
            n_parameter_sets=16_000,
            n_training_points=1_000,
            grid=SolverGrid(dt=0.002, dx=0.004),
            shard_size=100,
        ),
        # P(upper) alone needs no fine grid.
        Recipe(
            kind="cpn",
            estimator="pyddm",
            n_parameter_sets=5_000,
            grid=SolverGrid(dt=0.002, dx=0.005),
            shard_size=500,
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
