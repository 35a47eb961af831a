"""docs/tutorial-experiment.md, run: docs/examples/experiment.py's steps on a smaller
experiment with short chains. The page includes the file, so what it shows is what runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "experiment.py"


@pytest.fixture(scope="module")
def tutorial():
    spec = importlib.util.spec_from_file_location("experiment", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_simulated_experiment_has_participants_conditions_and_guesses(tutorial):
    data = tutorial.simulate_experiment(participants=10, trials=100, guesses=0.2, seed=2)
    assert len(data) == 1000
    assert data["participant_id"].nunique() == 10
    assert set(data["condition"]) == {"easy", "hard"}
    # Guesses include rts below t, which the ddm alone cannot produce.
    assert (data["rt"] < tutorial.TRUTH["t"]).sum() >= 5


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Numba will use object mode")
def test_the_tutorial_fits_formulas_with_contaminants(tutorial, capsys, tmp_path):
    data = tutorial.simulate_experiment(participants=6, trials=60, guesses=0.05, seed=3)
    idata = tutorial.fit(data, "ddm", fixed={"z": 0.5}, draws=60, tune=60, chains=1)
    report = capsys.readouterr().out
    assert "360 trials scored with their rt" in report
    assert "v ~ 1 + condition + x + (1|participant_id)" in report
    posterior = idata.posterior
    assert {"v_Intercept", "v_condition[hard]", "v_x", "a_Intercept", "p_outlier"} <= set(
        posterior.data_vars
    )
    assert posterior["v_1|participant_id_offset"].shape[-1] == 6
    assert np.isfinite(idata.log_likelihood["trials"].to_numpy()).all()
    # Short chains: the condition effect has the right sign.
    assert float(posterior["v_condition[hard]"].mean()) < 0
