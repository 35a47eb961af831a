"""The ddm `mnle` network against the exact likelihood (and the LAN), side by side in one run.

For each dataset, the same PyMC model is sampled with each likelihood (NumPyro NUTS, 2 chains,
``--tune`` + ``--draws``, the same seed); only the NUTS draws are timed
(`ssmhub.fitting.draw_posterior`: no predictive draws, no pointwise log-likelihood).
Reported per fit: seconds, divergences, mean tree depth; per parameter, the network
posterior's |mean difference| from the exact one in exact posterior SDs, and the ratio of SDs.

Datasets, ``--datasets`` of each kind:

- ``NeuroRacer``: 500 Go + 500 NoGo trials, v's sign by condition, NoGo presses withheld
  (scored by choice alone); v, a, t free, z = 0.5.
- ``1000 trials``: ddm trials with scalar parameters; v, a, t free, z = 0.5.
- ``regression``: 1000 trials with v = b0 + b1 * x, x ~ N(0, 1) per trial; b0, b1, a, t free.
- ``hierarchical`` (``--hierarchical`` datasets): 14 participants x 285 trials,
  v = b0 + b1 * x + sigma * u[participant] (non-centred), free a, z, t.

With ``--hssm PYTHON`` (an environment with HSSM 0.5, see `hssm_arm.py`), the reference
toolbox samples the ``1000 trials`` and ``hierarchical`` data too, in the same run: with
its analytical ddm and with the ONNX LAN given by ``--onnx`` (``ssmhub export ddm``).

Run by hand: ``python benchmarks/mnle_sampling.py [--datasets 5] [--hierarchical 1]
[--draws 1000] [--tune 500] [--likelihoods exact,mnle,lan] [--kinds ...]
[--hssm runs/hssm-venv/bin/python --onnx runs/ddm-lan.onnx]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable

from ssmhub.cli import one_jax_device_per_core

one_jax_device_per_core()  # as `ssmhub fit` does: the two chains run in parallel

import numpy as np  # noqa: E402  (JAX must see the devices first)
import pandas as pd  # noqa: E402
import pymc as pm  # noqa: E402

import ssmhub  # noqa: E402
from ssmhub.fitting import FitConfig, build_model, draw_posterior  # noqa: E402
from ssmhub.neuroracer import TRUTH, simulate_trials  # noqa: E402
from ssmhub.pymc import SSM  # noqa: E402

SCALAR = {"v": 0.8, "a": 1.2, "z": 0.5, "t": 0.35}
REGRESSION = {"b0": 0.6, "b1": 0.4, "a": 1.2, "t": 0.35}
HIERARCHICAL = {"b0": 0.5, "b1": 0.3, "sigma": 0.3, "a": 1.3, "z": 0.45, "t": 0.3}
PARTICIPANTS, PER_PARTICIPANT = 14, 285

Builder = Callable[[str], pm.Model]
HSSM_KINDS = {"1000 trials": "scalar", "hierarchical": "hierarchical"}


def config(likelihood: str, args: argparse.Namespace, seed: int) -> FitConfig:
    return FitConfig(
        model="ddm",
        likelihood=likelihood,
        fixed={"z": 0.5},
        sampler="numpyro",
        draws=args.draws,
        tune=args.tune,
        chains=2,
        seed=seed,
    )


def regression_data(truth: dict, n: int, seed: int, groups: np.ndarray | None = None):
    """Trials with v = b0 + b1 * x (+ sigma * u[group]); one simulator call per trial row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    v = truth["b0"] + truth["b1"] * x
    offsets = None
    if groups is not None:
        offsets = rng.normal(size=groups.max() + 1)
        v = v + truth["sigma"] * offsets[groups]
    theta = {"v": v, "a": truth["a"], "z": truth.get("z", 0.5), "t": truth["t"]}
    data = ssmhub.simulate("ddm", theta, n=1, seed=seed)
    data["x"] = x
    if groups is not None:
        data["participant"] = groups
    return data


def regression_model(data: pd.DataFrame, likelihood: str) -> pm.Model:
    t_upper = min(0.9, float(data["rt"].min()))
    with pm.Model() as model:
        b0 = pm.Uniform("b0", -1.5, 1.5)
        b1 = pm.Uniform("b1", -1.0, 1.0)
        a = pm.Uniform("a", 0.5, 2.5)
        t = pm.Uniform("t", 0.05, t_upper)
        v = b0 + b1 * data["x"].to_numpy()
        SSM("trials", "ddm", likelihood, v=v, a=a, z=0.5, t=t, observed=data[["rt", "response"]])
    return model


def hierarchical_model(data: pd.DataFrame, likelihood: str) -> pm.Model:
    t_upper = min(0.9, float(data["rt"].min()))
    participant = data["participant"].to_numpy()
    with pm.Model() as model:
        b0 = pm.Normal("b0", 0.0, 1.0)
        b1 = pm.Normal("b1", 0.0, 0.5)
        sigma = pm.HalfNormal("sigma", 0.5)
        u = pm.Normal("u", 0.0, 1.0, shape=PARTICIPANTS)
        a = pm.Uniform("a", 0.5, 2.5)
        z = pm.Uniform("z", 0.2, 0.8)
        t = pm.Uniform("t", 0.05, t_upper)
        v = b0 + b1 * data["x"].to_numpy() + sigma * u[participant]
        SSM("trials", "ddm", likelihood, v=v, a=a, z=z, t=t, observed=data[["rt", "response"]])
    return model


def hssm_fits(args: argparse.Namespace, data: pd.DataFrame, kind: str, seed: int) -> dict:
    """The reference toolbox's fits of ``data`` (`hssm_arm.py`), by likelihood."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/data.csv"
        data.to_csv(path, index=False)
        for name, loglik in (("HSSM analytical", "analytical"), ("HSSM LAN", args.onnx)):
            arm = [args.hssm, "benchmarks/hssm_arm.py", path, kind, loglik]
            arm += [str(args.draws), str(args.tune), str(seed)]
            done = subprocess.run(arm, capture_output=True, text=True, check=True)
            out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def datasets(args: argparse.Namespace, k: int) -> dict[str, tuple[Builder, dict, pd.DataFrame]]:
    """Each kind's k-th dataset: a model builder per likelihood, the truth and the data."""
    out: dict[str, tuple[Builder, dict, pd.DataFrame]] = {}
    if "NeuroRacer" in args.kinds:
        racer = simulate_trials(500, seed=100 + k)
        trialwise = {"v": racer["condition"].to_numpy()}
        out["NeuroRacer"] = (
            lambda lik: build_model(racer, config(lik, args, k), trialwise=trialwise),
            TRUTH,
            racer,
        )
    if "scalar" in args.kinds:
        scalar = ssmhub.simulate("ddm", SCALAR, n=1000, seed=200 + k)
        out["1000 trials"] = (
            lambda lik: build_model(scalar, config(lik, args, k)),
            SCALAR,
            scalar,
        )
    if "regression" in args.kinds:
        reg = regression_data(REGRESSION, 1000, seed=300 + k)
        out["regression"] = (lambda lik: regression_model(reg, lik), REGRESSION, reg)
    if "hierarchical" in args.kinds and k < args.hierarchical:
        groups = np.repeat(np.arange(PARTICIPANTS), PER_PARTICIPANT)
        hier = regression_data(HIERARCHICAL, groups.size, seed=400 + k, groups=groups)
        out["hierarchical"] = (
            lambda lik: hierarchical_model(hier, lik),
            HIERARCHICAL,
            hier,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--hierarchical", type=int, default=1)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--likelihoods", default="exact,mnle,lan")
    parser.add_argument("--kinds", default="NeuroRacer,scalar,regression,hierarchical")
    parser.add_argument("--hssm", help="python of an environment with hssm 0.5")
    parser.add_argument("--onnx", default="runs/ddm-lan.onnx", help="LAN for HSSM")
    args = parser.parse_args()
    names = args.likelihoods.split(",")
    fidelity = [
        "| data | dataset | parameter | exact mean (SD) | "
        + " | ".join(f"{n}: mean (SD), shift/SD, SD ratio" for n in names[1:])
        + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in names[1:]) + " |",
    ]
    timing = [
        "| data | dataset | likelihood | NUTS seconds | ratio to exact | divergences | "
        "mean tree depth |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for k in range(args.datasets):
        for label, (build, truth, data) in datasets(args, k).items():
            fits = {}
            for name in names:
                model = build(name)
                start = time.perf_counter()
                idata = draw_posterior(model, config(name, args, k), progressbar=False)
                fits[name] = (idata, time.perf_counter() - start)
            for name, (idata, seconds) in fits.items():
                stats = idata.sample_stats
                timing.append(
                    f"| {label} | {k} | {name} | {seconds:.1f} | "
                    f"{seconds / fits[names[0]][1]:.2f} | {int(stats['diverging'].sum())} | "
                    f"{float(stats['tree_depth'].mean()):.2f} |"
                )
            for p in truth:
                if p not in fits[names[0]][0].posterior:
                    continue
                e = fits[names[0]][0].posterior[p].values.ravel()
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
            if args.hssm and label in HSSM_KINDS:
                for name, fit in hssm_fits(args, data, HSSM_KINDS[label], k).items():
                    timing.append(
                        f"| {label} | {k} | {name} | {fit['seconds']:.1f} | "
                        f"{fit['seconds'] / fits[names[0]][1]:.2f} | {fit['divergences']} | "
                        f"{fit['tree_depth']:.2f} |"
                    )
            print("\n".join(timing[-len(names) - 2 :]), flush=True)
    print("\n".join(fidelity), end="\n\n")
    print("\n".join(timing))


if __name__ == "__main__":
    main()
