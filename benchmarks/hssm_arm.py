"""The reference toolbox's side of `mnle_sampling.py`: HSSM 0.5 on the same data.

Runs in its own environment (HSSM is not a dependency of ssmhub)::

    python -m venv runs/hssm-venv && runs/hssm-venv/bin/pip install hssm==0.5.0 numpyro
    runs/hssm-venv/bin/python benchmarks/hssm_arm.py DATA.csv scalar|hierarchical|formulas \
        analytical|PATH.onnx DRAWS TUNE SEED

and prints one JSON line: NUTS seconds (``HSSM.sample`` alone, NumPyro, 2 chains, no
pointwise log-likelihood), divergences, mean tree depth, posterior means and SDs. No
contaminant process (``p_outlier=None``), as on ssmhub's side; z = 0.5 for ``scalar``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import json
import time

import hssm
import pandas as pd


def main() -> None:
    path, kind, loglik, draws, tune, seed = sys.argv[1:]
    data = pd.read_csv(path)
    options: dict = {"loglik_kind": "analytical"}
    if loglik != "analytical":
        options = {"loglik": loglik, "loglik_kind": "approx_differentiable"}
    include = {
        "scalar": [{"name": "z", "prior": 0.5}],
        "hierarchical": [{"name": "v", "formula": "v ~ 1 + x + (1|participant)"}],
        # experiment.py's model: the same formulas as ssmhub's side
        "formulas": [
            {"name": "v", "formula": "v ~ 1 + x + (1|participant_id)"},
            {"name": "a", "formula": "a ~ 1 + (1|participant_id)"},
        ],
    }[kind]
    model = hssm.HSSM(
        data=data, model="ddm", include=include, p_outlier=None, lapse=None, **options
    )
    start = time.perf_counter()
    idata = model.sample(
        sampler="numpyro",
        chains=2,
        draws=int(draws),
        tune=int(tune),
        random_seed=int(seed),
        idata_kwargs={"log_likelihood": False},
        progressbar=False,
    )
    seconds = time.perf_counter() - start
    stats, posterior = idata["sample_stats"], idata["posterior"]
    summary = {
        name: [float(posterior[name].mean()), float(posterior[name].std())]
        for name in posterior.data_vars
        if posterior[name].ndim == 2
    }
    print(
        json.dumps(
            {
                "seconds": seconds,
                "divergences": int(stats["diverging"].sum()),
                "tree_depth": float(stats["tree_depth"].mean()),
                "posterior": summary,
            }
        )
    )


if __name__ == "__main__":
    main()
