"""Networks against the exact ddm likelihood, side by side in one run.

1. Throughput: log-likelihood plus gradient (trials per second) for 1k, 10k and 100k trials;
   for a LAN that carries a correction (``ssmhub normalise``), also without it.
2. Predicted fidelity, in seconds: at the exact likelihood's maximum, one Newton step of the
   network likelihood (Laplace approximation; the priors are flat) gives each parameter's
   shift in posterior SDs, for both networks and for the LAN or the CPN alone (the other
   part exact), so a bias can be traced to one network before any sampling. "LAN
   normalised" divides the LAN's density, per trial, by the probability mass it holds for
   that trial's parameters and response (quadrature over rt) and multiplies by the CPN's
   choice probability: the LAN gives only the shape of the rt distribution. It costs 128
   LAN evaluations per trial, so it is a measurement of what a cheaper normaliser would buy.
   Then, at the true parameters, the LAN's mean error per trial in the gradient of the
   log-likelihood (the bias that the sum over trials turns into a shift), for each kind of
   trial with a reaction time, and the part of it that is the LAN's error in the choice
   probability its density integrates to (computed by quadrature over rt, no sampling).
3. NeuroRacer fidelity and speed: the same simulated datasets fitted with the shipped ddm
   networks and with the exact likelihood (NumPyro, 2 chains x (tune + draws)); per
   parameter, |mean difference| in posterior SDs and the ratio of SDs; wall time of each
   fit; divergences and mean tree depth.

Run by hand: ``python benchmarks/inference.py [--datasets 5] [--draws 2000] [--tune 500]
[--laplace-only]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import ssmhub
from ssmhub.default_plugins.network_likelihood import lan_logp
from ssmhub.fitting import FitConfig, build_model, sample
from ssmhub.likelihood import Likelihood
from ssmhub.neuroracer import TRUTH, simulate_trials
from ssmhub.normalise import log_mass
from ssmhub.ops import guard
from ssmhub.plugins import get_manager


def throughput() -> list[str]:
    spec = ssmhub.get_model("ddm")
    rows = ["| trials | likelihood | value + gradient, trials/s |", "| --- | --- | --- |"]
    rng = np.random.default_rng(0)
    for n in (1_000, 10_000, 100_000):
        data = ssmhub.simulate("ddm", {"v": 1.0, "a": 1.5, "z": 0.5, "t": 0.3}, n=n, seed=0)
        rt = jnp.asarray(data["rt"].to_numpy(np.float32))
        response = jnp.asarray(data["response"].to_numpy(np.float32))
        theta = jnp.asarray(rng.normal([1.0, 1.5, 0.5, 0.3], 0.01), jnp.float32)
        likelihoods = {name: get_manager().likelihood(spec, name) for name in ("lan", "exact")}
        lan = ssmhub.load_network("ddm", "lan")
        if lan.correction is not None:  # what the correction costs
            likelihoods["lan without its correction"] = Likelihood(partial(lan_logp, lan), None)
        for name, likelihood in likelihoods.items():
            rate = _rate(guard(likelihood, spec, None), rt, response, theta)
            rows.append(f"| {n:,} | {name} | {rate:,.0f} |")
    return rows


def _rate(likelihood: Likelihood, rt: jax.Array, response: jax.Array, theta: jax.Array) -> float:
    """Trials per second of one jitted value-and-gradient step."""

    def total(theta: jax.Array) -> jax.Array:
        params = jnp.broadcast_to(theta, (rt.shape[0], theta.shape[0]))
        return likelihood.logp_rt(params, rt, response).sum()

    step = jax.jit(jax.value_and_grad(total))
    jax.block_until_ready(step(theta))
    repeats = max(3, 200_000 // rt.shape[0])
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(step(theta))
    return rt.shape[0] * repeats / (time.perf_counter() - start)


FREE = ("v", "a", "t")  # z is fixed at 0.5 in the NeuroRacer model


def _neuroracer_loglik(likelihood: Likelihood, data: pd.DataFrame) -> Callable:
    """The NeuroRacer model's log-likelihood as a JAX function of (v, a, t)."""
    rt = data["rt"].to_numpy()
    response = data["response"].to_numpy(np.float64)
    sign = data["condition"].to_numpy(np.float64)
    has_rt = ~np.isnan(rt)

    def rows(x: jax.Array, sign: np.ndarray) -> jax.Array:
        v, a, t = x
        ones = jnp.ones(sign.shape)
        return jnp.stack([v * sign, a * ones, 0.5 * ones, t * ones], axis=-1)

    def loglik(x: jax.Array) -> jax.Array:
        assert likelihood.logp_choice is not None
        with_rt = likelihood.logp_rt(rows(x, sign[has_rt]), rt[has_rt], response[has_rt])
        without = likelihood.logp_choice(rows(x, sign[~has_rt]), response[~has_rt])
        return with_rt.sum() + without.sum()

    return loglik


def _maximum(loglik: Callable, start: np.ndarray) -> jax.Array:
    from scipy.optimize import minimize

    negative = jax.jit(jax.value_and_grad(lambda x: -loglik(x)))

    def objective(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        value, grad = negative(jnp.asarray(x))
        return np.asarray(value, np.float64), np.asarray(grad, np.float64)

    return jnp.asarray(minimize(objective, start, jac=True, method="BFGS").x)


def normalised(lan: Likelihood, choice: Likelihood, t_index: int = 3) -> Likelihood:
    """``lan``'s density renormalised per trial to ``choice``'s probability of the response."""
    assert choice.logp_choice is not None

    def logp_rt(params: jax.Array, rt: jax.Array, response: jax.Array) -> jax.Array:
        mass = log_mass(lan.logp_rt, params, response, t_index)
        return lan.logp_rt(params, rt, response) - mass + choice.logp_choice(params, response)

    return Likelihood(logp_rt, choice.logp_choice)


def laplace_shift(datasets: int) -> list[str]:
    spec = ssmhub.get_model("ddm")
    exact, lan = (guard(get_manager().likelihood(spec, n), spec, None) for n in ("exact", "lan"))
    variants = {
        "both networks": lan,
        "LAN only": Likelihood(lan.logp_rt, exact.logp_choice),
        "CPN only": Likelihood(exact.logp_rt, lan.logp_choice),
        "LAN normalised, CPN": normalised(lan, lan),
    }
    rows = [
        "| dataset | networks | " + " | ".join(f"{p}: shift / SD" for p in FREE) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in FREE) + " |",
    ]
    with jax.enable_x64(True):
        for k in range(datasets):
            data = simulate_trials(500, seed=100 + k)
            loglik = _neuroracer_loglik(exact, data)
            top = _maximum(loglik, np.array([TRUTH[p] for p in FREE]))
            cov = jnp.linalg.inv(-jax.hessian(loglik)(top))
            sd = jnp.sqrt(jnp.diag(cov))
            for name, variant in variants.items():
                shift = cov @ jax.grad(_neuroracer_loglik(variant, data))(top) / sd
                rows.append(f"| {k} | {name} | " + " | ".join(f"{s:+.3f}" for s in shift) + " |")
    return rows


def gradient_bias() -> list[str]:
    """Per-trial gradient bias of the LAN at the NeuroRacer truth, by kind of trial.

    Derivatives are with respect to the trial's own parameters (a NoGo trial's drift is -v).
    """
    spec = ssmhub.get_model("ddm")
    exact, lan = (get_manager().likelihood(spec, n) for n in ("exact", "lan"))
    rt = jnp.linspace(TRUTH["t"] + 5e-4, TRUTH["t"] + 14.0, 40_000)
    press = jnp.ones(rt.shape)

    def logp(likelihood: Likelihood, theta: jax.Array) -> jax.Array:
        return likelihood.logp_rt(jnp.broadcast_to(theta, (rt.shape[0], 4)), rt, press)

    def mass_on_grid(likelihood: Likelihood, theta: jax.Array) -> jax.Array:
        return jax.nn.logsumexp(logp(likelihood, theta)) + jnp.log(rt[1] - rt[0])

    index = [spec.parameter_names.index(p) for p in FREE]
    rows = [
        "| trials | share | " + " | ".join(f"{p}: bias (mass part)" for p in FREE) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in FREE) + " |",
    ]
    for v, label in ((1.0, "Go, press"), (-1.0, "NoGo, press")):
        theta = jnp.array([v, TRUTH["a"], 0.5, TRUTH["t"]])
        weight = jax.nn.softmax(logp(exact, theta))
        bias = weight @ jax.jacfwd(lambda th: logp(lan, th) - logp(exact, th))(theta)
        mass = jax.grad(lambda th: mass_on_grid(lan, th) - mass_on_grid(exact, th))(theta)
        share = float(jnp.exp(mass_on_grid(exact, theta)))
        rows.append(
            f"| {label} | {share:.3f} | "
            + " | ".join(f"{bias[i]:+.4f} ({mass[i]:+.4f})" for i in index)
            + " |"
        )
    return rows


def fit(data: pd.DataFrame, likelihood: str, draws: int, tune: int, seed: int) -> tuple:
    config = FitConfig(
        model="ddm",
        likelihood=likelihood,
        fixed={"z": 0.5},
        sampler="numpyro",
        draws=draws,
        tune=tune,
        chains=2,
        seed=seed,
    )
    model = build_model(data, config, trialwise={"v": data["condition"].to_numpy()})
    start = time.perf_counter()
    idata = sample(model, config, progressbar=False)
    return idata, time.perf_counter() - start


def fidelity(datasets: int, draws: int, tune: int) -> list[str]:
    rows = [
        "| dataset | parameter | exact mean (SD) | network mean (SD) | |diff| / SD | SD ratio |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    timing = [
        "| dataset | likelihood | seconds | divergences | mean tree depth |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k in range(datasets):
        data = simulate_trials(500, seed=100 + k)
        fits = {name: fit(data, name, draws, tune, seed=k) for name in ("exact", "lan")}
        for name, (idata, seconds) in fits.items():
            stats = idata.sample_stats
            timing.append(
                f"| {k} | {name} | {seconds:.1f} | {int(stats['diverging'].sum())} | "
                f"{float(stats['tree_depth'].mean()):.2f} |"
            )
        for p in ("v", "a", "t"):
            e = fits["exact"][0].posterior[p].values.ravel()
            n = fits["lan"][0].posterior[p].values.ravel()
            rows.append(
                f"| {k} | {p} (true {TRUTH[p]}) | {e.mean():.3f} ({e.std():.3f}) | "
                f"{n.mean():.3f} ({n.std():.3f}) | {abs(n.mean() - e.mean()) / e.std():.2f}"
                f" | {n.std() / e.std():.3f} |"
            )
    return [*rows, "", *timing]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--laplace-only", action="store_true", help="skip the sampling")
    args = parser.parse_args()
    if not args.skip_throughput:
        print("\n".join(throughput()), end="\n\n", flush=True)
    print("\n".join(laplace_shift(args.datasets)), end="\n\n", flush=True)
    print("\n".join(gradient_bias()), end="\n\n", flush=True)
    if args.laplace_only:
        return
    print("\n".join(fidelity(args.datasets, args.draws, args.tune)), flush=True)


if __name__ == "__main__":
    main()
