"""Do the network and the reference rank a recovery fit's answer as they rank the truth?

Reads the per-dataset table that ``recovery.py`` printed (truth -> posterior mean), simulates
the same datasets again (same seeds) and sums each dataset's log-likelihood at the truth and
at the posterior mean, under the LAN and under the reference likelihood (the exact density or
the fine Fokker-Planck solution of ``ssmhub evaluate``). Where the reference prefers the truth
and the LAN the posterior mean, the fit went where the LAN is wrong: a network fault, not a
lack of information in the data. Also printed: the LAN's mean error per trial at each point,
and the same difference with the LAN's density renormalised to the CPN's choice probability
(``inference.normalised``).

Run by hand: ``python benchmarks/recovery_check.py MODEL RECOVERY.md [--datasets 13 23]
[--trials 1000] [--seed 0]`` (``--trials`` and ``--seed`` as given to ``recovery.py``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
from inference import normalised
from recovery import draw_truths

import ssmhub
from ssmhub.evaluation import reference_for
from ssmhub.fitting import FitConfig, prior_ranges
from ssmhub.plugins import get_manager

ROW = re.compile(r"^\| (\d+) \| (.*?) \| \d+ \| [\d.]+ \| [\d.]+ \|")


def posterior_means(table: Path, names: list[str]) -> dict[int, dict[str, float]]:
    """Dataset -> {parameter: (truth, mean)} from the rows of ``recovery.py``'s first table."""
    means = {}
    for line in table.read_text().splitlines():
        match = ROW.match(line)
        if match:
            cells = match.group(2).split(" | ")
            pairs = [tuple(float(x) for x in cell.split(" → ")) for cell in cells]
            means[int(match.group(1))] = dict(zip(names, pairs, strict=True))
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("table", type=Path)
    parser.add_argument("--datasets", type=int, nargs="*")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--inner", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    spec = ssmhub.get_model(args.model)
    box = prior_ranges(FitConfig(model=args.model))
    fitted = posterior_means(args.table, list(box))
    truths = draw_truths(box, max(fitted) + 1, args.inner, np.random.default_rng(args.seed))
    reference = reference_for(spec)
    lan = get_manager().likelihood(spec, "lan")
    renormalised = normalised(lan, lan, spec.parameter_names.index("t"))

    def log_likelihoods(theta: dict[str, float], data: pd.DataFrame) -> tuple[float, ...]:
        rt, response = data["rt"].to_numpy(), data["response"].to_numpy()
        exact = reference(theta, 20.0).log_density(rt, response)
        params = np.tile([theta[n] for n in spec.parameter_names], (len(data), 1))
        network, fixed = (
            np.asarray(f.logp_rt(params, rt, response), dtype=np.float64)
            for f in (lan, renormalised)
        )
        return float(exact.sum()), float((network - exact).mean()), float(fixed.sum())

    print(
        "| dataset | truth | posterior mean | reference: mean - truth | LAN: mean - truth "
        "| LAN error per trial at truth / at mean | LAN normalised: mean - truth |",
        "| --- | --- | --- | ---: | ---: | --- | ---: |",
        sep="\n",
    )
    for k in args.datasets or sorted(fitted):
        truth = truths[k]
        recorded = {p: pair[0] for p, pair in fitted[k].items()}
        assert all(abs(truth[p] - recorded[p]) < 6e-4 for p in box), f"dataset {k}: other truth"
        mean = {p: pair[1] for p, pair in fitted[k].items()}
        data = ssmhub.simulate(args.model, truth, n=args.trials, seed=args.seed * 1000 + k)
        data = data[data["rt"] > 0]
        (ref_truth, err_truth, fixed_truth), (ref_mean, err_mean, fixed_mean) = (
            log_likelihoods(theta, data) for theta in (truth, mean)
        )
        lan_diff = (ref_mean + err_mean * len(data)) - (ref_truth + err_truth * len(data))
        show = ", ".join
        print(
            f"| {k} | {show(f'{p} {truth[p]:.2f}' for p in box)} | "
            f"{show(f'{p} {mean[p]:.2f}' for p in box)} | {ref_mean - ref_truth:+.1f} | "
            f"{lan_diff:+.1f} | {err_truth:+.3f} / {err_mean:+.3f} | "
            f"{fixed_mean - fixed_truth:+.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
