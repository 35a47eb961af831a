"""ssmhub's Fokker-Planck solution (``ssmhub.fokker_planck``) of a model against its simulator.

For models without a closed form (``ornstein``, ``angle``, ...) this is the check that the
PyDDM labels and reference describe the model the simulator simulates. Per parameter set:
P(upper) and the mean rt of the solution (on the evaluation reference grid, up to 20 s),
the same with the bounds widened by 0.5826 sqrt(dt) (the continuity correction for a
simulator that checks its bounds every dt = 1 ms, as ssm-simulators does: a path observed
only at the steps overshoots, as if the bounds were that much wider), and the simulated
values with one standard error. Trials still undecided at the simulator's 20 s horizon are
left out of the simulated values, and the solution's values are then those of the decided
mass; such rows are marked.

Run by hand: ``python benchmarks/fokker_planck_vs_simulation.py MODEL [--theta v=1,a=1,...]
[--random 5] [--trials 200000] [--seed 7]``.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import ssmhub
from ssmhub import fokker_planck
from ssmhub.evaluation import REFERENCE_GRID
from ssmhub.spec import ModelSpec

SIM_DT = 0.001  # ssm-simulators' step
SHIFT = 0.5826 * math.sqrt(SIM_DT)
HORIZON = 20.0


def solution_stats(spec: ModelSpec, theta: dict[str, float]) -> tuple[float, float, float]:
    """P(upper | decided), mean rt of the decided mass, and that mass, up to the horizon."""
    sol = fokker_planck.solve(spec, theta, REFERENCE_GRID, HORIZON)
    midpoints = (np.arange(sol.upper.size) - 0.5) * sol.dt
    mass = (sol.upper + sol.lower) * sol.dt
    up = sol.upper.sum() * sol.dt
    return up / mass.sum(), theta.get("t", 0.0) + (midpoints * mass).sum() / mass.sum(), mass.sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--theta", action="append", default=[], help="e.g. v=1,a=1,z=0.5,g=0,t=0.3")
    parser.add_argument("--random", type=int, default=5, help="parameter sets drawn from the box")
    parser.add_argument("--trials", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    spec = ssmhub.get_model(args.model)
    thetas = [
        {k: float(v) for k, v in (item.split("=") for item in text.split(","))}
        for text in args.theta
    ]
    lower, upper = spec.bounds()
    rng = np.random.default_rng(args.seed)
    thetas += [
        dict(zip(spec.parameter_names, map(float, row), strict=True))
        for row in rng.uniform(lower, upper, size=(args.random, len(lower)))
    ]
    names = spec.parameter_names
    print(
        f"| {' | '.join(names)} | P(upper): solution | bounds + 0.58 sqrt(dt) | simulated "
        "| mean rt: solution | bounds + 0.58 sqrt(dt) | simulated | note |"
    )
    print("|" + " ---: |" * (len(names) + 6) + " --- |")
    for i, theta in enumerate(thetas):
        widened = theta | {"a": theta["a"] + SHIFT}
        if "z" in theta:  # the same start point between the wider bounds
            widened["z"] = 0.5 + (2 * theta["z"] - 1) * theta["a"] / (2 * widened["a"])
        p0, m0, mass = solution_stats(spec, theta)
        p1, m1, _ = solution_stats(spec, widened)
        sim = ssmhub.simulate(args.model, theta, n=args.trials, seed=i)
        rt, response = sim["rt"].to_numpy(), sim["response"].to_numpy()
        decided = (rt > 0) & (rt < HORIZON - 0.1 + theta.get("t", 0.0))
        p = float(np.mean(response[decided] == 1))
        se_p = math.sqrt(p * (1 - p) / decided.sum())
        m, se_m = rt[decided].mean(), rt[decided].std() / math.sqrt(decided.sum())
        note = (
            ""
            if mass > 0.999
            else f"decided by {HORIZON:g} s: {mass:.3f} (simulated {decided.mean():.3f})"
        )
        cells = " | ".join(f"{theta[n]:.2f}" for n in names)
        print(
            f"| {cells} | {p0:.4f} | {p1:.4f} | {p:.4f} ± {se_p:.4f} | {m0:.4f} | {m1:.4f} | "
            f"{m:.4f} ± {se_m:.4f} | {note} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
