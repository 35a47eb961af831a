"""The how-to of docs/howto-multichoice.md: fit a three-choice model (lba3) in PyMC.

Run it whole with ``python fit_lba3.py``; tests/test_howto_multichoice.py runs every step
with short chains.
"""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

import ssmhub
from ssmhub.pymc import SSM, sample

# --8<-- [start:simulate]
TRUTH = {"A": 0.3, "b": 0.75, "v0": 0.35, "v1": 0.7, "v2": 0.3}


def simulate_data(n: int = 1000, seed: int = 1) -> pd.DataFrame:
    """Trials of lba3 at TRUTH. A trial no accumulator finished within ssm-simulators'
    horizon (20 s) comes back with rt NaN and response `ssmhub.OMITTED`: it is no choice,
    so it is left out of the data to fit."""
    data = ssmhub.simulate("lba3", TRUTH, n=n, seed=seed)
    return data[data["response"] != ssmhub.OMITTED]


# --8<-- [end:simulate]


# --8<-- [start:fit]
def fit(data: pd.DataFrame, likelihood: str = "mnle", **options: Any) -> az.InferenceData:
    """The posterior of every lba3 parameter, uniform priors on the network's box.

    ``likelihood``: ``mnle``, the network the plugin ships (any number of choices), or
    ``exact``, the plugin's closed form. ``options`` go to ``pm.sample``.
    """
    spec = ssmhub.get_model("lba3")
    with pm.Model():
        params = {p.name: pm.Uniform(p.name, p.lower, p.upper) for p in spec.parameters}
        SSM("trials", "lba3", likelihood, observed=data[["rt", "response"]], **params)
        idata = sample(**{"chains": 2, "nuts_sampler": "numpyro", **options})
        # One draw of 1000 trials per kept posterior draw: every choice appears.
        thinned = idata.posterior.dataset.isel(draw=slice(None, None, 10))
        idata["posterior_predictive"] = pm.sample_posterior_predictive(
            thinned, random_seed=0, progressbar=False
        )["posterior_predictive"]
    return idata


# --8<-- [end:fit]


# --8<-- [start:check]
def choice_shares(data: pd.DataFrame, idata: az.InferenceData) -> pd.DataFrame:
    """Each choice's share of trials, observed and posterior predictive."""
    predicted = np.asarray(idata.posterior_predictive["trials"]).reshape(-1, 2)[:, 1]
    choices = ssmhub.get_model("lba3").choices
    return pd.DataFrame(
        {
            "observed": [np.mean(data["response"] == c) for c in choices],
            "predicted": [np.mean(predicted == c) for c in choices],
        },
        index=pd.Index(choices, name="response"),
    )


# --8<-- [end:check]


if __name__ == "__main__":
    data = simulate_data()
    network = fit(data, draws=1000, tune=500, random_seed=0)
    print(az.summary(network, kind="stats"))
    print(choice_shares(data, network))
    exact = fit(data, "exact", draws=1000, tune=500, random_seed=0)
    print(az.summary(exact, kind="stats"))
