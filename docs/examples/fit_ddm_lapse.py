"""The walkthrough of docs/custom-simulator.md: simulate ddm_lapse, train a LAN, fit it.

Needs the ddm_lapse plugin (docs/examples/ddm_lapse.py) installed. Run it whole with
``python fit_ddm_lapse.py WORKDIR``; tests/test_custom_simulator.py runs every step at toy
sizes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import arviz as az
import pandas as pd
import pymc as pm

import ssmhub
import ssmhub.pymc
from ssmhub.generate import Manifest, generate
from ssmhub.network import Network
from ssmhub.settings import cache_dir
from ssmhub.trainer import TrainSettings
from ssmhub.training import train

# --8<-- [start:simulate]
TRUTH = {"v": 1.0, "a": 1.2, "z": 0.5, "t": 0.3, "p_lapse": 0.1}


def simulate_data(n: int = 500, seed: int = 1) -> pd.DataFrame:
    """Trials of ddm_lapse at TRUTH: the data to fit, with 10% lapses."""
    return ssmhub.simulate("ddm_lapse", TRUTH, n=n, seed=seed)


# --8<-- [end:simulate]


# --8<-- [start:generate]
def make_training_data(
    out: Path, n_parameter_sets: int = 1_000, n_simulations: int = 5_000, **options: Any
) -> Manifest:
    """KDE-labelled training data from the plugin's recipe, made smaller to try things out.

    ``options`` go to `ssmhub.generate.generate`: ``n_workers``, or the ``scheduler`` of a
    Dask cluster.
    """
    recipe = ssmhub.get_model("ddm_lapse").recipe("lan")
    smaller = recipe.model_copy(
        update={"n_parameter_sets": n_parameter_sets, "n_simulations": n_simulations}
    )
    return generate("ddm_lapse", "lan", out, smaller, **options)


# --8<-- [end:generate]


# --8<-- [start:train]
def train_lan(data_dir: Path, epochs: int = 20, batch_size: int = 512, **settings: Any) -> Network:
    """Train a LAN into the network cache, $SSMHUB_HOME/networks/ddm_lapse/lan/.

    The cache is the first place ``likelihood="lan"`` looks for a model's network. Small
    data want small batches (the default is 4096), or there are too few steps to learn.
    """
    out = cache_dir("ddm_lapse", "lan")
    return train(data_dir, out, TrainSettings(epochs=epochs, batch_size=batch_size, **settings))


# --8<-- [end:train]


# --8<-- [start:fit]
def fit(data: pd.DataFrame, **sample_options: Any) -> az.InferenceData:
    """The posterior of v, a, t and p_lapse (z fixed at 0.5) given ``data``."""
    with pm.Model():
        v = pm.Uniform("v", -3.0, 3.0)
        a = pm.Uniform("a", 0.3, 2.5)
        t = pm.Uniform("t", 0.0, 0.5)
        p_lapse = pm.Uniform("p_lapse", 0.0, 0.3)  # inside the networks' training box
        ssmhub.pymc.SSM(
            "trials",
            model="ddm_lapse",
            likelihood="lan",
            observed=data[["rt", "response"]],
            v=v,
            a=a,
            z=0.5,
            t=t,
            p_lapse=p_lapse,
        )
        # Every trial is impossible where t >= its rt: initvals() starts t below the
        # fastest rt if its prior would not (this one starts at 0.25).
        idata = pm.sample(initvals=ssmhub.pymc.initvals(), **sample_options)
        pm.compute_log_likelihood(idata)  # per trial and draw, for az.loo
    return idata


# --8<-- [end:fit]


def main(work: Path) -> None:
    data = simulate_data()
    make_training_data(work / "ddm_lapse-lan")
    train_lan(work / "ddm_lapse-lan")
    idata = fit(data)
    print(az.summary(idata))
    print("truth:", TRUTH)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
