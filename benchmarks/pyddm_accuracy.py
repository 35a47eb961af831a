"""How accurate and how fast is PyDDM on the ddm, per time and space grid (dt, dx)?

Why this exists: ssmhub labels the training data of the ``angle`` and ``weibull`` networks
with PyDDM (ssm-simulators' ``PyDDMEstimatorBuilder``: cubic interpolation, clipped at 1e-29)
and measures those networks against PyDDM (``ssmhub.evaluation.PyDDMReference``: linear
interpolation). Those models have no closed form to check PyDDM against; the ddm has one, and
ssms' mapper builds it as the same generic PyDDM model (drift and bound are functions of
time, so the same implicit solver runs). The errors here are what the grid costs.

Parameters are drawn uniformly from the ddm box and trials from the model, so errors weigh
where data fall. PyDDM solves up to T_dur = the set's longest rt + 0.5 s, and once up to the
ssms default of 20 s to show what that costs. Run by hand; prints checks and a markdown table:

    python benchmarks/pyddm_accuracy.py [--sets N] [--trials M] [--seed S]

The defaults take about 17 minutes on 2 cores and up to 16 GiB of memory, nearly all of it
for dt = 0.0001: ssms' mapper gives PyDDM a drift of (t, x), which PyDDM tabulates on the
whole (T_dur / dt) x (2a / dx) grid before solving.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import ssmhub  # noqa: E402
from ssmhub_ddm import exact  # noqa: E402

BOX = {"v": (-3.0, 3.0), "a": (0.3, 2.5), "z": (0.1, 0.9), "t": (0.0, 2.0)}
# (dt, dx, T_dur); T_dur None = the set's longest rt + 0.5 s. (0.001, 0.005, 20) = ssms labels.
SETTINGS: list[tuple[float, float, float | None]] = [
    (0.002, 0.01, None),
    (0.001, 0.005, None),
    (0.001, 0.005, 20.0),
    (0.001, 0.002, None),
    (0.0005, 0.001, None),
    (0.0005, 0.0005, None),
    (0.0002, 0.001, None),
    (0.0001, 0.001, None),
]


@dataclass
class Errors:
    linear: list[np.ndarray] = field(default_factory=list)
    cubic: list[np.ndarray] = field(default_factory=list)
    p_upper: list[float] = field(default_factory=list)  # P(upper, rt <= T_dur)
    p_upper_all: list[float] = field(default_factory=list)  # P(upper)
    seconds: list[float] = field(default_factory=list)
    zero: int = 0  # trials where PyDDM's density is exactly 0


def solve(theta: dict[str, float], dt: float, dx: float, t_dur: float) -> tuple[Any, Any]:
    """Build and solve the model exactly as ``PyDDMReference`` does; (model, solution)."""
    from ssms.config import model_config
    from ssms.external_simulators.pyddm_mapper import SSMSToPyDDMMapper

    model = SSMSToPyDDMMapper.build_pyddm_model(
        model_config["ddm"], theta, {"delta_t": dt, "max_t": t_dur}
    )
    model.dx = dx
    return model, model.solve()


def log_densities(
    model: Any, solution: Any, rt: np.ndarray, response: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """PyDDM's log density by linear (ssmhub reference) and cubic (ssms labels) interpolation."""
    from ssms.dataset_generators.likelihood_estimators.pyddm_estimator import (
        PyDDMLikelihoodEstimator,
    )

    grid = model.t_domain()
    linear = np.zeros(len(rt))
    for r, choice in ((1, "correct"), (-1, "error")):
        mask = response == r
        linear[mask] = np.interp(rt[mask], grid, solution.pdf(choice), left=0.0, right=0.0)
    cubic = PyDDMLikelihoodEstimator(solution, grid, interpolation="cubic").evaluate(rt, response)
    with np.errstate(divide="ignore"):
        return np.log(linear), cubic


def exact_p_upper_by(params: np.ndarray, t_dur: float) -> float:
    """Exact P(response = +1, rt <= t_dur): the density integrated on a log-spaced grid."""
    tau = np.geomspace(1e-7, t_dur - params[0, 3], 200_001)
    rows = np.repeat(params, len(tau), axis=0)
    density = np.exp(np.asarray(exact.logpdf(rows, tau + params[0, 3], np.ones(len(tau)))))
    return float(np.trapezoid(density, tau))


def check_conventions(theta: dict[str, float], rt: np.ndarray, response: np.ndarray) -> None:
    """Check PyDDM's pdf conventions and that this script computes what ssmhub and ssms do."""
    import pyddm
    from ssms.config import model_config
    from ssms.dataset_generators.estimator_builders.pyddm_builder import PyDDMEstimatorBuilder

    from ssmhub.evaluation import PyDDMReference

    dt, t_dur = 0.001, float(rt.max() + 0.5)
    model, sol = solve(theta, dt, 0.005, t_dur)
    upper, lower = sol.pdf("correct"), sol.pdf("error")
    grid = model.t_domain()
    print(f"- checks at {', '.join(f'{k}={x:.3f}' for k, x in theta.items())}, dt={dt}:")
    default_dx = pyddm.gddm().dx
    print(f"  - PyDDM's default dx (what ssms' builder solves with): {default_dx}")
    print(
        f"  - sum(pdf)*dt vs prob: upper {upper.sum() * dt:.12f} vs {sol.prob('correct'):.12f},"
        f" lower {lower.sum() * dt:.12f} vs {sol.prob('error'):.12f}; with undecided"
        f" {(upper.sum() + lower.sum()) * dt + sol.prob_undecided():.12f}, so pdf is 1/s"
    )
    first = grid[np.flatnonzero(upper + lower)[0]]
    print(
        f"  - first rt with pdf > 0: {first:.4f} s for t = {theta['t']:.4f} s: the pdf is of rt"
        f" (t included), t truncated to the grid: floor(t/dt)*dt + dt = "
        f"{np.floor(theta['t'] / dt) * dt + dt:.4f}"
    )
    last = grid[np.flatnonzero(upper + lower)[-1]]
    print(
        f"  - last rt with pdf > 0: {last:.3f} s of T_dur = {t_dur:.3f} s (PyDDM stops once"
        f" < 1e-4 of the mass is undecided; undecided = {sol.prob_undecided():.2e})"
    )
    params = np.array([[theta[k] for k in "vazt"]])
    mode = np.argmax(upper)
    ex = float(np.exp(exact.logpdf(params, grid[mode : mode + 1], np.array([1]))[0]))
    print(f"  - at the upper mode, rt={grid[mode]:.3f}: pdf {upper[mode]:.6f}, exact {ex:.6f}")
    linear, cubic = log_densities(model, sol, rt, response)
    ref = PyDDMReference(ssmhub.get_model("ddm"), dt=dt, dx=0.005)(theta, t_dur)
    same_linear = np.array_equal(ref.log_density(rt, response), linear)
    config = {"delta_t": dt, "max_t": t_dur, "estimator": {"pdf_interpolation": "cubic"}}
    builder = PyDDMEstimatorBuilder(config, model_config["ddm"]).build(theta)
    same_cubic = np.array_equal(builder.evaluate(rt, response), cubic)
    print(f"  - PyDDMReference == linear here: {same_linear}; builder == cubic here: {same_cubic}")
    closed = float(np.exp(exact.log_choice_probability(params, np.array([1]))[0]))
    by_200 = exact_p_upper_by(params, theta["t"] + 200.0)
    print(
        f"  - exact P(upper): closed form {closed:.10f}, density integrated to 200 s {by_200:.10f}"
    )


def run(n_sets: int, n_trials: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lo, hi = (np.array([BOX[k][i] for k in "vazt"]) for i in (0, 1))
    errors = {s: Errors() for s in SETTINGS}
    n_total = n_dropped = 0
    for i in range(n_sets):
        theta = dict(zip("vazt", map(float, rng.uniform(lo, hi)), strict=True))
        data = ssmhub.simulate("ddm", theta, n=n_trials, seed=int(rng.integers(2**31)))
        keep = data["rt"].to_numpy() > 0  # ssms marks trials past its max_t with rt = -999
        rt, response = data["rt"].to_numpy()[keep], data["response"].to_numpy()[keep]
        n_total, n_dropped = n_total + len(rt), n_dropped + int((~keep).sum())
        if i == 0:
            check_conventions(theta, rt, response)
        params = np.repeat(np.array([[theta[k] for k in "vazt"]]), len(rt), axis=0)
        exact_logp = np.asarray(exact.logpdf(params, rt, response))
        p_exact = float(np.exp(exact.log_choice_probability(params[:1], np.array([1]))[0]))
        for setting in SETTINGS:
            dt, dx, t_dur = setting
            start = time.perf_counter()
            model, sol = solve(theta, dt, dx, t_dur or float(rt.max() + 0.5))
            errors[setting].seconds.append(time.perf_counter() - start)
            linear, cubic = log_densities(model, sol, rt, response)
            e = errors[setting]
            e.linear.append(np.abs(linear - exact_logp))
            e.cubic.append(np.abs(cubic - exact_logp))
            p = float(sol.prob("correct"))
            e.p_upper.append(abs(p - exact_p_upper_by(params[:1], model.T_dur)))
            e.p_upper_all.append(abs(p - p_exact))
            e.zero += int(np.sum(linear == -np.inf))
        print(f"set {i + 1}/{n_sets} done", file=sys.stderr, flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    print(
        f"\n{n_sets} sets x {n_trials} trials: {n_total} trials, {n_dropped} past ssms' max_t;"
        f" peak memory {peak:.1f} GiB\n"
    )
    print(
        "| dt | dx | T_dur (s) | interpolation | median | p90 | p99 | trials with p = 0 |"
        " dP(upper, rt <= T_dur): median | max | dP(upper): max | s / solve |"
    )
    print("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (dt, dx, t_dur), e in errors.items():
        for name, errs in (("linear", e.linear), ("cubic", e.cubic)):
            err = np.concatenate(errs)
            q = np.quantile(err, [0.5, 0.9, 0.99])
            dp, dp_all = np.array(e.p_upper), np.array(e.p_upper_all)
            print(
                f"| {dt} | {dx} | {t_dur or 'max rt + 0.5'} | {name} | {q[0]:.2g} | {q[1]:.2g} |"
                f" {q[2]:.2g} | {e.zero} | {np.median(dp):.1e} | {dp.max():.1e} |"
                f" {dp_all.max():.1e} | {np.mean(e.seconds):.2f} |"
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
