"""Networks against the exact ddm likelihood, side by side in one run.

1. Throughput: log-likelihood plus gradient (trials per second) for 1k, 10k and 100k trials.
2. NeuroRacer fidelity and speed: the same simulated datasets fitted with the shipped ddm
   networks and with the exact likelihood (NumPyro, 2 chains x (tune + draws)); per
   parameter, |mean difference| in posterior SDs and the ratio of SDs; wall time of each
   fit; divergences and mean tree depth.

Run by hand: ``python benchmarks/inference.py [--datasets 5] [--draws 2000] [--tune 500]``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import ssmhub
from ssmhub.fitting import FitConfig, build_model, sample
from ssmhub.likelihood import Likelihood
from ssmhub.neuroracer import TRUTH, simulate_trials
from ssmhub.ops import guard
from ssmhub.plugins import get_manager


def throughput() -> list[str]:
    spec = ssmhub.get_model("ddm")
    builders = {b.name: b for b in get_manager().likelihoods() if b.supports(spec)}
    rows = ["| trials | likelihood | value + gradient, trials/s |", "| --- | --- | --- |"]
    rng = np.random.default_rng(0)
    for n in (1_000, 10_000, 100_000):
        data = ssmhub.simulate("ddm", {"v": 1.0, "a": 1.5, "z": 0.5, "t": 0.3}, n=n, seed=0)
        rt = jnp.asarray(data["rt"].to_numpy(np.float32))
        response = jnp.asarray(data["response"].to_numpy(np.float32))
        theta = jnp.asarray(rng.normal([1.0, 1.5, 0.5, 0.3], 0.01), jnp.float32)
        for name in ("lan", "exact"):
            likelihood = guard(builders[name].build(spec), spec, None)
            rate = _rate(likelihood, rt, response, theta)
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
    args = parser.parse_args()
    if not args.skip_throughput:
        print("\n".join(throughput()), end="\n\n", flush=True)
    print("\n".join(fidelity(args.datasets, args.draws, args.tune)), flush=True)


if __name__ == "__main__":
    main()
