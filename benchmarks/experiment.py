"""Issue 19's bars for fits from formulas: fidelity and speed on a multi-participant
experiment, and what a contaminant process does for a few guesses.

``fidelity``: one simulated experiment, 14 participants x 285 trials, v = b0 + b1 x + sd_v
u[participant], a = a0 + sd_a w[participant], z and t free; the same formulas
(`ssmhub.fitting`) sampled with the exact likelihood and with each network, NumPyro, 2
chains, the same seed; only the NUTS draws timed. Per fixed effect and group SD: the
network posterior's |mean shift| in exact posterior SDs and its SD ratio. With ``--hssm``,
the reference toolbox samples the same formulas (`hssm_arm.py`, kind ``formulas``) with its
LAN from ``--onnx``: its seconds, divergences and tree depth.

``contaminants``: ``--datasets`` ddm datasets of 1000 trials, 2% of them replaced by
uniform guesses (0.05 to 3 s, random response); each fitted with ``p_outlier="free"`` and
without; the share of 90% intervals of t and a that hold the truth.

Run by hand::

    python benchmarks/experiment.py fidelity [--likelihoods exact,mnle] [--hssm PY --onnx F]
    python benchmarks/experiment.py contaminants [--datasets 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time

from ssmhub.cli import one_jax_device_per_core

one_jax_device_per_core()  # as `ssmhub fit` does: the two chains run in parallel

import arviz as az  # noqa: E402  (JAX must see the devices first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import ssmhub  # noqa: E402
from ssmhub.fitting import FitConfig, build_model, draw_posterior  # noqa: E402

TRUTH = {"b0": 0.5, "b1": 0.3, "sd_v": 0.3, "a0": 1.3, "sd_a": 0.15, "z": 0.45, "t": 0.3}
PARTICIPANTS, PER_PARTICIPANT = 14, 285
FORMULAS = ("v ~ 1 + x + (1|participant_id)", "a ~ 1 + (1|participant_id)")
COMPARED = [
    "v_Intercept",
    "v_x",
    "v_1|participant_id_sigma",
    "a_Intercept",
    "a_1|participant_id_sigma",
    "z",
    "t",
]
CONTAMINATED = {"v": 1.0, "a": 1.5, "z": 0.5, "t": 0.3}


def experiment(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    who = np.repeat(np.arange(PARTICIPANTS), PER_PARTICIPANT)
    x = rng.normal(size=who.size)
    v = TRUTH["b0"] + TRUTH["b1"] * x + TRUTH["sd_v"] * rng.normal(size=PARTICIPANTS)[who]
    a = TRUTH["a0"] + TRUTH["sd_a"] * rng.normal(size=PARTICIPANTS)[who]
    data = ssmhub.simulate(
        "ddm", {"v": v, "a": a, "z": TRUTH["z"], "t": TRUTH["t"]}, n=1, seed=seed
    )
    data["x"] = x
    data["participant_id"] = [f"p{i:02d}" for i in who]
    return data


def fidelity(args: argparse.Namespace) -> None:
    data = experiment(args.seed)
    fits = {}
    for likelihood in args.likelihoods.split(","):
        config = FitConfig(
            model="ddm",
            likelihood=likelihood,
            formulas=FORMULAS,
            draws=args.draws,
            tune=args.tune,
            chains=2,
            seed=args.seed,
        )
        model = build_model(data, config)
        start = time.perf_counter()
        idata = draw_posterior(model, config, progressbar=False)
        fits[likelihood] = (idata, time.perf_counter() - start)
    exact, exact_seconds = fits["exact"]
    print("| likelihood | NUTS seconds | ratio to exact | divergences | mean tree depth |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (idata, seconds) in fits.items():
        stats = idata.sample_stats
        print(
            f"| {name} | {seconds:.1f} | {seconds / exact_seconds:.2f} | "
            f"{int(stats['diverging'].sum())} | {float(stats['tree_depth'].mean()):.2f} |"
        )
    if args.hssm:
        with tempfile.TemporaryDirectory() as tmp:
            data.to_csv(f"{tmp}/data.csv", index=False)
            arm = [args.hssm, "benchmarks/hssm_arm.py", f"{tmp}/data.csv", "formulas", args.onnx]
            done = subprocess.run(
                [*arm, str(args.draws), str(args.tune), str(args.seed)],
                capture_output=True,
                text=True,
                check=True,
            )
        peer = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| HSSM LAN | {peer['seconds']:.1f} | {peer['seconds'] / exact_seconds:.2f} | "
            f"{peer['divergences']} | {peer['tree_depth']:.2f} |"
        )
    print()
    names = [n for n in fits if n != "exact"]
    print(
        "| parameter | exact mean (SD) | "
        + " | ".join(f"{n}: shift/SD, SD ratio" for n in names)
        + " |"
    )
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    for p in COMPARED:
        m, s = float(exact.posterior[p].mean()), float(exact.posterior[p].std())
        cells = []
        for n in names:
            post = fits[n][0].posterior[p]
            cells.append(f"{abs(float(post.mean()) - m) / s:.2f}, {float(post.std()) / s:.3f}")
        print(f"| {p} | {m:.3f} ({s:.3f}) | " + " | ".join(cells) + " |")


def contaminants(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    held = {"with p_outlier": {"t": 0, "a": 0}, "without": {"t": 0, "a": 0}}
    rows = []
    for k in range(args.datasets):
        data = ssmhub.simulate("ddm", CONTAMINATED, n=1000, seed=args.seed + k)
        guess = rng.random(len(data)) < 0.02
        data.loc[guess, "rt"] = rng.uniform(0.05, 3.0, guess.sum())
        data.loc[guess, "response"] = rng.choice([-1, 1], guess.sum())
        row = [str(k), str(int(guess.sum()))]
        for label, p_outlier in (("with p_outlier", "free"), ("without", None)):
            config = FitConfig(
                model="ddm",
                likelihood=args.likelihood,
                fixed={"z": 0.5},
                p_outlier=p_outlier,
                draws=args.draws,
                tune=args.tune,
                chains=2,
                seed=k,
            )
            idata = draw_posterior(build_model(data, config), config, progressbar=False)
            hdi = az.hdi(idata, prob=0.9)
            cells = []
            for p in ("t", "a"):
                lo, hi = (float(x) for x in np.asarray(hdi[p]).ravel())
                inside = lo <= CONTAMINATED[p] <= hi
                held[label][p] += inside
                cells.append(f"{p} [{lo:.3f}, {hi:.3f}]{'' if inside else ' ✗'}")
            row.append("; ".join(cells))
        rows.append(row)
        print(f"dataset {k} done", flush=True)
    print("| dataset | guesses | with p_outlier: 90% HDIs | without |")
    print("| ---: | ---: | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    n = args.datasets
    for label, counts in held.items():
        print(f"{label}: t held in {counts['t']}/{n}, a held in {counts['a']}/{n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bar", choices=["fidelity", "contaminants"])
    parser.add_argument("--likelihoods", default="exact,mnle")
    parser.add_argument("--likelihood", default="mnle", help="of contaminants")
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hssm", help="python of an environment with hssm 0.5")
    parser.add_argument("--onnx", default="runs/ddm-lan.onnx", help="LAN for HSSM")
    args = parser.parse_args()
    {"fidelity": fidelity, "contaminants": contaminants}[args.bar](args)


if __name__ == "__main__":
    main()
