"""How accurate and how fast is ssmhub's Fokker-Planck path (PyDDM) on the ddm, per grid?

Why this exists: the ``angle`` and ``weibull`` networks are trained on labels from
``ssmhub.fokker_planck`` and measured against it (``ssmhub.evaluation.PyDDMReference``).
Those models have no closed form to check it against; the ddm has one (``ssmhub_ddm.exact``).
The same code solves the ddm (constant bound) and ``angle`` at theta = 0 (the same model, but
its bound is a function of time, so PyDDM takes the time-varying path that angle and weibull
use). ssm-simulators' own PyDDM path (``PyDDMEstimatorBuilder``, what the labels used before)
is measured beside it.

Parameters are drawn uniformly from the ddm box and trials from the model, so errors weigh
where data fall. Every solve runs to T_dur = 20 s, as the labels do. Run by hand; prints a
markdown table:

    python benchmarks/pyddm_accuracy.py [--sets N] [--trials M] [--seed S]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import ssmhub  # noqa: E402
from ssmhub.fokker_planck import solve  # noqa: E402
from ssmhub.recipe import SolverGrid  # noqa: E402
from ssmhub_ddm import exact  # noqa: E402

BOX = {"v": (-3.0, 3.0), "a": (0.3, 2.5), "z": (0.1, 0.9), "t": (0.0, 2.0)}
T_MAX = 20.0
# A solver maps (theta, rt, response) to (log density, P(upper)).
Solver = Callable[[dict[str, float], np.ndarray, np.ndarray], tuple[np.ndarray, float]]


def ssms_solver(dt: float) -> Solver:
    """ssm-simulators' PyDDMEstimatorBuilder as its labels use it (PyDDM's default dx)."""
    from ssms.config import model_config
    from ssms.dataset_generators.estimator_builders.pyddm_builder import PyDDMEstimatorBuilder

    config = {"delta_t": dt, "max_t": T_MAX, "estimator": {"pdf_interpolation": "cubic"}}
    builder = PyDDMEstimatorBuilder(config, model_config["ddm"])

    def run(theta: dict[str, float], rt: np.ndarray, response: np.ndarray) -> tuple[Any, float]:
        estimator = builder.build(theta)
        return estimator.evaluate(rt, response), float(estimator.solution.prob("correct"))

    return run


def ssmhub_solver(model: str, grid: SolverGrid, richardson: bool) -> Solver:
    spec = ssmhub.get_model(model)

    def run(theta: dict[str, float], rt: np.ndarray, response: np.ndarray) -> tuple[Any, float]:
        theta = {**theta, "theta": 0.0} if model == "angle" else theta
        solution = solve(spec, theta, grid, T_MAX - theta["t"], richardson=richardson)
        return solution.log_density(rt, response), solution.p_upper

    return run


SOLVERS: dict[str, Callable[[], Solver]] = {
    "ssms builder, dt 0.001, dx 0.005 (old labels)": lambda: ssms_solver(0.001),
    "ssmhub ddm, dt 0.001, dx 0.002, plain": lambda: ssmhub_solver(
        "ddm", SolverGrid(dt=0.001, dx=0.002), False
    ),
    "ssmhub ddm, dt 0.002, dx 0.005 (CPN labels)": lambda: ssmhub_solver(
        "ddm", SolverGrid(dt=0.002, dx=0.005), True
    ),
    "ssmhub ddm, dt 0.001, dx 0.002 (first LAN labels)": lambda: ssmhub_solver(
        "ddm", SolverGrid(dt=0.001, dx=0.002), True
    ),
    "ssmhub angle theta=0, dt 0.001, dx 0.002 (first LAN labels)": lambda: ssmhub_solver(
        "angle", SolverGrid(dt=0.001, dx=0.002), True
    ),
    "ssmhub angle theta=0, dt 0.002, dx 0.004 (LAN labels)": lambda: ssmhub_solver(
        "angle", SolverGrid(dt=0.002, dx=0.004), True
    ),
    "ssmhub ddm, dt 0.0005, dx 0.001 (reference)": lambda: ssmhub_solver(
        "ddm", SolverGrid(dt=0.0005, dx=0.001), True
    ),
    "ssmhub angle theta=0, dt 0.0005, dx 0.001 (reference)": lambda: ssmhub_solver(
        "angle", SolverGrid(dt=0.0005, dx=0.001), True
    ),
}


def run(n_sets: int, n_trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lo, hi = (np.array([BOX[k][i] for k in "vazt"]) for i in (0, 1))
    solvers = {name: make() for name, make in SOLVERS.items()}
    errors: dict[str, list[np.ndarray]] = {name: [] for name in solvers}
    p_errors: dict[str, list[float]] = {name: [] for name in solvers}
    seconds: dict[str, list[float]] = {name: [] for name in solvers}
    for i in range(n_sets):
        theta = dict(zip("vazt", map(float, rng.uniform(lo, hi)), strict=True))
        data = ssmhub.simulate("ddm", theta, n=n_trials, seed=int(rng.integers(2**31)))
        keep = data["rt"].to_numpy() > 0  # ssms marks trials past its max_t with rt = -999
        rt, response = data["rt"].to_numpy()[keep], data["response"].to_numpy()[keep]
        params = np.repeat(np.array([[theta[k] for k in "vazt"]]), len(rt), axis=0)
        exact_logp = np.asarray(exact.logpdf(params, rt, response))
        p_exact = float(np.exp(exact.log_choice_probability(params[:1], np.array([1]))[0]))
        for name, solver in solvers.items():
            start = time.perf_counter()
            logp, p_upper = solver(theta, rt, response)
            seconds[name].append(time.perf_counter() - start)
            errors[name].append(np.abs(np.asarray(logp) - exact_logp))
            p_errors[name].append(abs(p_upper - p_exact))
        print(f"set {i + 1}/{n_sets} done", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(f"\n{n_sets} sets x {n_trials} trials; peak memory {peak:.1f} GiB\n")
    print(
        "| solver | median | p90 | p99 | max | trials with p = 0 | dP(upper): median | max"
        " | s / solve |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in solvers:
        err = np.concatenate(errors[name])
        zero = int(np.sum(~np.isfinite(err)))
        q = np.quantile(err[np.isfinite(err)], [0.5, 0.9, 0.99, 1.0])
        dp = np.array(p_errors[name])
        print(
            f"| {name} | {q[0]:.2g} | {q[1]:.2g} | {q[2]:.2g} | {q[3]:.2g} | {zero} |"
            f" {np.median(dp):.1e} | {dp.max():.1e} | {np.mean(seconds[name]):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=40, help="parameter sets")
    parser.add_argument("--trials", type=int, default=200, help="trials per set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.sets, args.trials, args.seed)


if __name__ == "__main__":
    main()
