"""Every network a plugin ships loads, fits its plugin's spec and keeps its accuracy bar.

The bars are the project's (see docs/benchmarks.md); a small sample keeps this quick, so
it checks the shipped files are the good ones, not the full accuracy table.
"""

from __future__ import annotations

import numpy as np
import pytest

import ssmhub
from ssmhub.evaluation import choice_accuracy, has_reference, mass_error, measure
from ssmhub.plugins import get_manager

# The issue's bars (tracked in docs/benchmarks.md): (median, p99) of the absolute error.
KINDS = ("lan", "cpn", "mnle")
CHOICE_BAR = 0.002  # an mnle's choice probability, median |error| (ddm)
BARS = {
    ("ddm", "lan"): (0.01, 0.10),
    ("ddm", "mnle"): (0.01, 0.10),
    ("angle", "lan"): (0.02, 0.15),
    ("weibull", "lan"): (0.02, 0.15),
    ("ornstein", "lan"): (0.02, 0.15),
    **{(model, "cpn"): (0.005, None) for model in ("ddm", "angle", "weibull", "ornstein")},
}

SHIPPED = [
    (spec.name, kind)
    for spec in ssmhub.list_models()
    for kind in KINDS
    if get_manager().locate_network(spec, kind) is not None
]


def test_the_ddm_plugin_ships_its_networks():
    assert ("ddm", "lan") in SHIPPED
    assert ("ddm", "mnle") in SHIPPED


@pytest.mark.slow
@pytest.mark.parametrize(("model", "kind"), SHIPPED)
def test_shipped_network_is_as_accurate_as_its_card_says(model, kind):
    """A smaller run of the evaluation recorded at shipping must agree with the record.

    Catches a network, reference or simulator that changed under the recorded numbers. A
    Fokker-Planck reference costs seconds per set, so those models get fewer sets; the
    factor 3 allows for the smaller sample (seen: ddm LAN 0.0054 against a recorded 0.0056,
    ddm CPN 0.00008 against 0.00012, angle CPN on 8 sets 0.0021 against 0.0012), while a
    broken network or reference is off by far more.
    """
    spec = ssmhub.get_model(model)
    if not has_reference(spec):  # KDE labels (levy): nothing exact to measure against
        pytest.skip(f"{model} has no reference likelihood; its networks are checked by recovery")
    network = ssmhub.load_network(model, kind)
    assert network.config.parameter_names == spec.parameter_names
    recorded = network.config.accuracy
    assert recorded is not None
    assert recorded.n_parameter_sets >= 200
    n_sets = 40 if get_manager().find_likelihood(spec, "exact") is not None else 8
    report, draws = measure(network, spec, n_parameter_sets=n_sets, n_trials=50, seed=123)
    assert report.reference == recorded.reference
    assert report.median_abs_error <= 3 * recorded.median_abs_error
    if model == "ddm":  # enough sets for the bars themselves
        median_bar, p99_bar = BARS[model, kind]
        assert report.median_abs_error <= median_bar
        assert p99_bar is None or report.p99_abs_error <= p99_bar
    if kind == "mnle":
        choice = choice_accuracy(network, spec, draws, report.reference, seed=123)
        assert choice.median_abs_error <= CHOICE_BAR
        assert mass_error(network, np.stack([d.theta for d in draws[:5]])) < 1e-5


@pytest.mark.parametrize(("model", "kind"), sorted(BARS))
def test_the_issue_networks_were_shipped_within_their_bars(model, kind):
    """The full evaluation recorded on each card (200 sets) meets the bar."""
    recorded = ssmhub.load_network(model, kind).config.accuracy
    assert recorded is not None
    median_bar, p99_bar = BARS[model, kind]
    assert recorded.median_abs_error <= median_bar
    assert p99_bar is None or recorded.p99_abs_error <= p99_bar


@pytest.mark.parametrize(("model", "kind"), SHIPPED)
def test_shipped_network_gives_finite_values_and_gradients_in_its_box(model, kind):
    import jax

    network = ssmhub.load_network(model, kind)
    box = network.config.box
    rng = np.random.default_rng(0)
    names = network.config.parameter_names
    params = np.column_stack([rng.uniform(*box[n], 64) for n in names])
    spec = ssmhub.get_model(model)
    t = spec.non_decision_time_of(dict(zip(names, params.T, strict=True)))
    choices = network.config.choices or spec.choices
    rows = (
        params
        if kind == "cpn"
        else np.column_stack([params, t + rng.uniform(0.01, 5, 64), rng.choice(choices, 64)])
    )
    rows = rows.astype(np.float32)
    assert np.all(np.isfinite(network(rows)))
    assert np.all(np.isfinite(jax.grad(lambda x: network(x).sum())(rows)))


@pytest.mark.parametrize("model", sorted({m for m, k in SHIPPED if k == "lan"}))
def test_a_shipped_lans_correction_was_fitted_to_the_cpn_shipped_beside_it(model):
    """Otherwise the builder would leave the correction out (with a warning) at every fit:
    a CPN retrained after its LAN was normalised needs `ssmhub normalise` again."""
    lan = ssmhub.load_network(model, "lan")
    if lan.config.correction is None:
        pytest.skip(f"the {model} LAN carries no correction")
    assert lan.config.correction.cpn_sha256 == ssmhub.load_network(model, "cpn").weights_sha256
