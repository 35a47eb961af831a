"""The ddm `mnle` network against the exact likelihood (and the LAN), side by side in one run.

For each dataset, the same PyMC model is sampled with each likelihood (NumPyro NUTS, 2 chains,
``--tune`` + ``--draws``); only ``pm.sample`` is timed (`ssmhub.fitting.sample`, no
predictive draws). Reported per fit: seconds, divergences, mean tree depth; per parameter, the
network posterior's |mean difference| from the exact one in exact posterior SDs and the ratio
of SDs.

Datasets: NeuroRacer (500 Go + 500 NoGo, v's sign by condition, NoGo presses withheld so
scored by choice alone) and 1000 ddm trials with scalar parameters (v, a, t free, z fixed).

Run by hand: ``python benchmarks/mnle_sampling.py [--datasets 5] [--draws 1000] [--tune 500]
[--likelihoods exact,mnle,lan]``.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

import ssmhub
from ssmhub.fitting import FitConfig, build_model, sample
from ssmhub.neuroracer import TRUTH, simulate_trials

SCALAR_TRUTH = {"v": 0.8, "a": 1.2, "z": 0.5, "t": 0.35}


def fit(data: pd.DataFrame, likelihood: str, args: argparse.Namespace, seed: int) -> tuple:
    config = FitConfig(
        model="ddm",
        likelihood=likelihood,
        fixed={"z": 0.5},
        sampler="numpyro",
        draws=args.draws,
        tune=args.tune,
        chains=2,
        seed=seed,
    )
    trialwise = {"v": data["condition"].to_numpy()} if "condition" in data else None
    model = build_model(data, config, trialwise=trialwise)
    start = time.perf_counter()
    idata = sample(model, config, progressbar=False)
    return idata, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--likelihoods", default="exact,mnle,lan")
    args = parser.parse_args()
    names = args.likelihoods.split(",")
    fidelity = [
        "| data | dataset | parameter | exact mean (SD) | "
        + " | ".join(f"{n}: mean (SD), shift/SD, SD ratio" for n in names[1:])
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in names[1:]) + " |",
    ]
    timing = [
        "| data | dataset | likelihood | pm.sample seconds | ratio to exact | divergences | "
        "mean tree depth |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for k in range(args.datasets):
        sets = {
            "NeuroRacer": (simulate_trials(500, seed=100 + k), TRUTH),
            "1000 trials": (
                ssmhub.simulate("ddm", SCALAR_TRUTH, n=1000, seed=200 + k),
                SCALAR_TRUTH,
            ),
        }
        for label, (data, truth) in sets.items():
            fits = {name: fit(data, name, args, seed=k) for name in names}
            for name, (idata, seconds) in fits.items():
                stats = idata.sample_stats
                timing.append(
                    f"| {label} | {k} | {name} | {seconds:.1f} | "
                    f"{seconds / fits['exact'][1]:.2f} | {int(stats['diverging'].sum())} | "
                    f"{float(stats['tree_depth'].mean()):.2f} |"
                )
            for p in ("v", "a", "t"):
                e = fits["exact"][0].posterior[p].values.ravel()
                cells = []
                for name in names[1:]:
                    n = fits[name][0].posterior[p].values.ravel()
                    cells.append(
                        f"{n.mean():.3f} ({n.std():.3f}), {abs(n.mean() - e.mean()) / e.std():.2f}"
                        f", {n.std() / e.std():.3f}"
                    )
                fidelity.append(
                    f"| {label} | {k} | {p} (true {truth[p]}) | {e.mean():.3f} ({e.std():.3f}) | "
                    + " | ".join(cells)
                    + " |"
                )
            print("\n".join(timing[-len(names) :]), flush=True)
    print("\n".join(fidelity), end="\n\n")
    print("\n".join(timing))


if __name__ == "__main__":
    main()
