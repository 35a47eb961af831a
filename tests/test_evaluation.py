"""`ssmhub evaluate` on a real Dask cluster: the reference solutions are its slow part."""

from __future__ import annotations

import numpy as np
import pytest

import ssmhub
from ssmhub.evaluation import measure


@pytest.mark.parametrize("kind", ["lan", "cpn"])
def test_the_reference_on_dask_workers_gives_the_same_report_as_here(cluster, kind):
    from dask.distributed import Client

    spec = ssmhub.get_model("ddm")
    network = ssmhub.load_network("ddm", kind)
    here, here_draws = measure(network, spec, n_parameter_sets=6, n_trials=30, seed=2)
    with Client(cluster) as client:
        there, there_draws = measure(network, spec, 6, 30, seed=2, client=client)
    assert there == here
    for a, b in zip(here_draws, there_draws, strict=True):
        np.testing.assert_array_equal(a.theta, b.theta)
        np.testing.assert_array_equal(a.rt, b.rt)
        np.testing.assert_array_equal(a.log_density, b.log_density)
        assert a.p_upper == b.p_upper
