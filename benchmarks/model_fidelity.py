"""A model's network posterior against its exact posterior, side by side in one run.

For models whose plugin registers an ``exact`` likelihood (closed forms such as ``lba3``,
``racing_diffusion_3``, ``ddm_sdv``): ``--datasets`` datasets of ``--trials`` trials, each
drawn at parameters uniform in the middle half of the network's box, are fitted with every
parameter free under uniform priors on that box (the non-decision time's capped at the
fastest rt, as `ssmhub fit` does), once with the exact likelihood and once with the network,
NumPyro NUTS, 2 chains, the same seed. Reported per parameter: the network posterior's
|mean difference| from the exact one in exact posterior SDs, and the ratio of SDs (the
issue's bars: at most 0.1, and within 10%); per fit: NUTS seconds (draws alone),
divergences, mean tree depth.

Run by hand: ``python benchmarks/model_fidelity.py lba3 [--likelihood mnle] [--datasets 3]
[--trials 1000] [--draws 1000] [--tune 500]``.
"""

from __future__ import annotations

import argparse
import time

from ssmhub.cli import one_jax_device_per_core

one_jax_device_per_core()  # as `ssmhub fit` does: the two chains run in parallel

import numpy as np  # noqa: E402  (JAX must see the devices first)

import ssmhub  # noqa: E402
from ssmhub.fitting import FitConfig, build_model, draw_posterior, prior_ranges  # noqa: E402


def truths(model: str, likelihood: str, n: int, seed: int) -> list[dict[str, float]]:
    """Parameter sets uniform in the middle half of the network's box."""
    box = prior_ranges(FitConfig(model=model, likelihood=likelihood))
    rng = np.random.default_rng(seed)
    return [
        {p: float(lo + (hi - lo) * rng.uniform(0.25, 0.75)) for p, (lo, hi) in box.items()}
        for _ in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--likelihood", default="mnle")
    parser.add_argument("--datasets", type=int, default=3)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = ("exact", args.likelihood)
    configs = {
        name: FitConfig(
            model=args.model,
            likelihood=name,
            sampler="numpyro",
            draws=args.draws,
            tune=args.tune,
            chains=2,
            seed=args.seed,
        )
        for name in names
    }
    # The same priors on both sides, or the comparison would measure them.
    network_box = prior_ranges(configs[args.likelihood])
    if prior_ranges(configs["exact"]) != network_box:
        raise SystemExit(f"the network's box {network_box} is not the spec's bounds")
    fidelity = [
        "| dataset | parameter (true) | exact mean (SD) | network mean (SD) | shift / SD | "
        "SD ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    timing = [
        "| dataset | likelihood | NUTS seconds | divergences | mean tree depth |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    worst = (0.0, 0.0)
    for k, truth in enumerate(truths(args.model, args.likelihood, args.datasets, args.seed)):
        data = ssmhub.simulate(args.model, truth, n=args.trials, seed=args.seed + k)
        data = data[data["response"] != ssmhub.OMITTED]
        fits = {}
        for name in names:
            model = build_model(data, configs[name])
            start = time.perf_counter()
            idata = draw_posterior(model, configs[name], progressbar=False)
            seconds = time.perf_counter() - start
            fits[name] = idata
            stats = idata.sample_stats
            timing.append(
                f"| {k} | {name} | {seconds:.1f} | {int(stats['diverging'].sum())} | "
                f"{float(stats['tree_depth'].mean()):.2f} |"
            )
        for p, value in truth.items():
            e = fits["exact"].posterior[p].values.ravel()
            n = fits[args.likelihood].posterior[p].values.ravel()
            shift, ratio = abs(n.mean() - e.mean()) / e.std(), n.std() / e.std()
            worst = (max(worst[0], shift), max(worst[1], abs(ratio - 1)))
            fidelity.append(
                f"| {k} | {p} ({value:.3f}) | {e.mean():.4f} ({e.std():.4f}) | "
                f"{n.mean():.4f} ({n.std():.4f}) | {shift:.2f} | {ratio:.3f} |"
            )
        print("\n".join(timing[-2:]), flush=True)
    print("\n".join(fidelity), end="\n\n")
    print("\n".join(timing), end="\n\n")
    print(f"largest shift {worst[0]:.2f} SD (bar 0.1); largest |SD ratio - 1| {worst[1]:.3f} (0.1)")


if __name__ == "__main__":
    main()
