"""Parameter recovery: simulate datasets at known parameters, fit each, compare.

For a model whose networks have no reference likelihood to be measured against (KDE labels,
e.g. ``levy``), recovery is the check that they are good enough to fit data with; for any
other model it is a check of the whole path, from simulator to posterior.

N datasets of ``--trials`` trials are simulated by the model's own simulator, at parameters
drawn uniformly from the inner part of the likelihood's box (``--inner 0.8``: the middle 80 %
of each range, so that posteriors are not cut by the prior's edges). Each is fitted with
``ssmhub.fitting`` (uniform priors over the box, t's ending at the dataset's fastest rt,
every parameter free, NUTS). Printed as
markdown: per parameter, R^2 of the posterior mean against the truth (1 - SS_res / SS_tot),
the correlation, the median posterior SD and the share of 90 % intervals that hold the truth;
per dataset, the truth, the posterior means, divergences, mean tree depth, max r_hat and
seconds.

Run by hand: ``python benchmarks/recovery.py MODEL [--datasets 20] [--trials 1000]
[--draws 500] [--tune 500] [--chains 2] [--target-accept 0.8] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from ssmhub.cli import one_jax_device_per_core
from ssmhub.fitting import FitConfig, build_model, draw_posterior, prior_ranges


def draw_truths(
    box: dict[str, tuple[float, float]], n: int, inner: float, rng: np.random.Generator
) -> list[dict[str, float]]:
    """``n`` parameter sets, uniform in the middle ``inner`` share of each range of ``box``."""
    margin = {k: (hi - lo) * (1 - inner) / 2 for k, (lo, hi) in box.items()}
    return [
        {k: float(rng.uniform(lo + margin[k], hi - margin[k])) for k, (lo, hi) in box.items()}
        for _ in range(n)
    ]


def fit_one(config: FitConfig, data: pd.DataFrame, target_accept: float) -> tuple[object, float]:
    model = build_model(data, config)
    start = time.perf_counter()
    idata = draw_posterior(model, config, progressbar=False, target_accept=target_accept)
    return idata, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--sampler", default="numpyro", choices=["numpyro", "blackjax", "pymc"])
    parser.add_argument("--likelihood", default="lan")
    parser.add_argument("--inner", type=float, default=0.8)
    parser.add_argument("--target-accept", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    one_jax_device_per_core()  # chains in parallel, as `ssmhub fit` runs them

    import arviz as az

    import ssmhub

    def config_for(k: int) -> FitConfig:
        return FitConfig(
            model=args.model,
            likelihood=args.likelihood,
            sampler=args.sampler,
            draws=args.draws,
            tune=args.tune,
            chains=args.chains,
            seed=args.seed + k,
        )

    box = prior_ranges(config_for(0))
    names = list(box)
    truths = draw_truths(box, args.datasets, args.inner, np.random.default_rng(args.seed))
    means, sds, covered, runs = [], [], [], []
    header = f"| dataset | {' | '.join(names)} | divergences | mean tree depth | max r_hat | s |"
    print(header, "|" + " --- |" * (len(names) + 5), sep="\n", flush=True)
    for k, truth in enumerate(truths):
        data = ssmhub.simulate(args.model, truth, n=args.trials, seed=args.seed * 1000 + k)
        dropped = int((data["rt"] <= 0).sum())  # trials undecided at max_t (rt -999), if any
        data = data[data["rt"] > 0]
        idata, seconds = fit_one(config_for(k), data, args.target_accept)
        post = idata.posterior
        mean = {p: float(post[p].mean()) for p in names}
        sd = {p: float(post[p].std()) for p in names}
        lo, hi = ({p: float(post[p].quantile(q)) for p in names} for q in (0.05, 0.95))
        stats = idata.sample_stats
        divergences = int(stats["diverging"].sum())
        depth = float(stats["tree_depth"].mean())
        rhat = float(max(az.rhat(idata)[p].item() for p in names))
        means.append(mean)
        sds.append(sd)
        covered.append({p: lo[p] <= truth[p] <= hi[p] for p in names})
        runs.append((divergences, depth, rhat, seconds))
        cells = " | ".join(f"{truth[p]:.3f} → {mean[p]:.3f}" for p in names)
        note = f" ({dropped} undecided trials dropped)" if dropped else ""
        print(
            f"| {k} | {cells} | {divergences} | {depth:.2f} | {rhat:.3f} | {seconds:.0f}{note} |",
            flush=True,
        )

    print(
        "\n| parameter | R^2 | correlation | median posterior SD | 90 % interval coverage |",
        "| --- | ---: | ---: | ---: | ---: |",
        sep="\n",
    )
    for p in names:
        t = np.array([x[p] for x in truths])
        m = np.array([x[p] for x in means])
        r2 = 1 - np.sum((m - t) ** 2) / np.sum((t - t.mean()) ** 2)
        corr = np.corrcoef(t, m)[0, 1]
        sd = np.median([x[p] for x in sds])
        cover = np.mean([x[p] for x in covered])
        print(f"| {p} | {r2:.3f} | {corr:.3f} | {sd:.3f} | {cover:.2f} |")
    div, depth, rhat, secs = (np.array(x) for x in zip(*runs, strict=True))
    print(
        f"\n{args.model}, {args.datasets} datasets x {args.trials} trials, {args.sampler} NUTS "
        f"{args.chains} chains x ({args.tune} tune + {args.draws} draws), target_accept "
        f"{args.target_accept}: divergences "
        f"{int(div.sum())} in all (datasets with any: {int((div > 0).sum())}), mean tree depth "
        f"{depth.mean():.2f} (max {depth.max():.2f}), r_hat max {rhat.max():.3f}, "
        f"{secs.mean():.0f} s per fit."
    )


if __name__ == "__main__":
    main()
