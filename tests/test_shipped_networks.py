"""Every network a plugin ships loads, fits its plugin's spec and keeps its accuracy bar.

The bars are the project's (see docs/benchmarks.md); a small sample keeps this quick, so
it checks the shipped files are the good ones, not the full accuracy table.
"""

from __future__ import annotations

import numpy as np
import pytest

import ssmhub
from ssmhub.evaluation import measure
from ssmhub.plugins import get_manager

LAN_BARS = {"ddm": (0.01, 0.10), "angle": (0.02, 0.15), "weibull": (0.02, 0.15)}
CPN_BAR = 0.005

SHIPPED = [
    (spec.name, kind)
    for spec in ssmhub.list_models()
    for kind in ("lan", "cpn")
    if get_manager().locate_network(spec, kind) is not None
]


def test_the_ddm_plugin_ships_its_networks():
    assert ("ddm", "lan") in SHIPPED


@pytest.mark.slow
@pytest.mark.parametrize(("model", "kind"), SHIPPED)
def test_shipped_network_keeps_its_bar(model, kind):
    spec = ssmhub.get_model(model)
    network = ssmhub.load_network(model, kind)
    assert network.config.parameter_names == spec.parameter_names
    report, _ = measure(network, spec, n_parameter_sets=40, n_trials=50, seed=123)
    if kind == "lan":
        median_bar, p99_bar = LAN_BARS[model]
        assert report["median_abs_error"] <= median_bar
        assert report["p99_abs_error"] <= p99_bar
    else:
        assert report["median_abs_error"] <= CPN_BAR
    # The recorded accuracy report is the full evaluation, made when it was shipped.
    assert network.config.metrics["accuracy"]["n_parameter_sets"] >= 200


@pytest.mark.parametrize(("model", "kind"), SHIPPED)
def test_shipped_network_gives_finite_values_and_gradients_in_its_box(model, kind):
    import jax

    network = ssmhub.load_network(model, kind)
    box = network.config.box
    rng = np.random.default_rng(0)
    params = np.column_stack([rng.uniform(*box[n], 64) for n in network.config.parameter_names])
    rows = (
        params
        if kind == "cpn"
        else np.column_stack(
            [params, params[:, -1] + rng.uniform(0.01, 5, 64), rng.choice([-1.0, 1.0], 64)]
        )
    )
    rows = rows.astype(np.float32)
    assert np.all(np.isfinite(network(rows)))
    assert np.all(np.isfinite(jax.grad(lambda x: network(x).sum())(rows)))
