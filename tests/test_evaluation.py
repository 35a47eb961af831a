"""`ssmhub evaluate` on a real Dask cluster: the reference solutions are its slow part."""

from __future__ import annotations

import numpy as np
import pytest

import ssmhub
from ssmhub.evaluation import measure
from ssmhub.network import Accuracy


@pytest.mark.parametrize("kind", ["lan", "cpn"])
def test_the_reference_on_dask_workers_gives_the_same_report_as_here(cluster, kind):
    spec = ssmhub.get_model("ddm")
    network = ssmhub.load_network("ddm", kind)
    here, here_draws = measure(network, spec, n_parameter_sets=6, n_trials=30, seed=2)
    there, there_draws = measure(network, spec, 6, 30, seed=2, scheduler=cluster.scheduler_address)
    assert there == here
    for a, b in zip(here_draws, there_draws, strict=True):
        np.testing.assert_array_equal(a.theta, b.theta)
        np.testing.assert_array_equal(a.rt, b.rt)
        np.testing.assert_array_equal(a.log_density, b.log_density)
        assert a.p_choice == b.p_choice


def test_the_card_shows_the_largest_error_and_the_unscored_trials():
    report = Accuracy(
        reference="exact",
        unit="nats",
        n_parameter_sets=200,
        n_trials_per_set=100,
        seed=0,
        median_abs_error=0.01,
        p90_abs_error=0.03,
        p99_abs_error=0.1,
        max_abs_error=1.5,
        n_unscored=3,
    )
    card = report.markdown()
    assert "| log-likelihood (nats) | 0.01 | 0.03 | 0.1 | 1.5 |" in card
    assert "3 trials had a reference density of zero and were not scored." in card
    # Reports recorded before the maximum was measured show none.
    older = report.model_copy(update={"max_abs_error": None, "n_unscored": 0})
    assert older.markdown().endswith("| 0.1 | - |")
