"""The tutorial of docs/tutorial-experiment.md: a multi-participant experiment, fitted from
formulas with contaminant trials, diagnosed, pictured and compared.

Run it whole with ``python experiment.py``; tests/test_tutorial_experiment.py runs every
step with a smaller experiment and short chains.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

import ssmhub
from ssmhub.diagnostics import diagnose
from ssmhub.fitting import FitConfig, model_from_plan, plan_fit, sample, write_results

# --8<-- [start:simulate]
TRUTH = {"v": 0.6, "v_hard": -0.5, "v_x": 0.3, "sd_v": 0.3, "a": 1.2, "sd_a": 0.15, "t": 0.3}


def simulate_experiment(
    participants: int = 12, trials: int = 200, guesses: float = 0.02, seed: int = 0
) -> pd.DataFrame:
    """Each participant's trials, half of them hard (lower drift), with a covariate x that
    raises the drift; drift and boundary vary by participant. A share ``guesses`` of trials
    are fast or slow guesses: a random response at a uniform time between 0.05 and 3 s."""
    rng = np.random.default_rng(seed)
    n = participants * trials
    who = np.repeat(np.arange(participants), trials)
    hard = rng.random(n) < 0.5
    x = rng.normal(size=n)
    v = (
        TRUTH["v"]
        + TRUTH["v_hard"] * hard
        + TRUTH["v_x"] * x
        + TRUTH["sd_v"] * rng.normal(size=participants)[who]
    )
    a = TRUTH["a"] + TRUTH["sd_a"] * rng.normal(size=participants)[who]
    theta = {"v": v, "a": a, "z": 0.5, "t": TRUTH["t"]}
    data = ssmhub.simulate("ddm", theta, n=1, seed=seed)
    guess = rng.random(n) < guesses
    data.loc[guess, "rt"] = rng.uniform(0.05, 3.0, guess.sum())
    data.loc[guess, "response"] = rng.choice([-1, 1], guess.sum())
    data["condition"] = np.where(hard, "hard", "easy")
    data["x"] = x
    data["participant_id"] = [f"p{i:02d}" for i in who]
    return data


# --8<-- [end:simulate]


# --8<-- [start:fit]
FORMULAS = (
    "v ~ 1 + condition + x + (1|participant_id)",
    "a ~ 1 + (1|participant_id)",
)


def fit(data: pd.DataFrame, model: str = "ddm", **settings: Any) -> Any:
    """A posterior from formulas, with contaminants estimated; ``settings`` go to
    `FitConfig` (likelihood, draws, chains...)."""
    config = FitConfig(model=model, formulas=FORMULAS, p_outlier="free", **settings)
    plan = plan_fit(data, config)
    print("\n".join(plan.report()))  # priors, links, rows, unused columns
    idata = sample(model_from_plan(data, plan), config)
    summary = az.summary(idata, round_to="none")
    rts = data["rt"].dropna()
    t = ssmhub.get_model(model).non_decision_time
    for finding in diagnose(idata, summary, plan.ranges, float(rts.min()), t):
        print(f"{finding.check}: {finding.seen}. {finding.advice}")
    return idata


# --8<-- [end:fit]


# --8<-- [start:compare]
def compare(fits: dict[str, Any]) -> pd.DataFrame:
    """PSIS-LOO of fits of the same trials, best first."""
    return az.compare(fits)


# --8<-- [end:compare]


if __name__ == "__main__":
    data = simulate_experiment()
    fits = {
        "ddm": fit(data, "ddm", fixed={"z": 0.5}),
        "angle": fit(data, "angle", fixed={"z": 0.5}),
    }
    for name, idata in fits.items():
        write_results(idata, data, Path(f"experiment-{name}"), name, by="condition")
    print(compare(fits))
