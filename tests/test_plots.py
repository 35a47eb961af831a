"""Pictures: `ssmhub plot network` and the accuracy plot of `ssmhub evaluate`."""

from __future__ import annotations

import json
import shutil

from conftest import run_cli

import ssmhub
from ssmhub.evaluation import evaluate
from ssmhub.plugins import get_manager

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_network_draws_the_shipped_networks(tmp_path):
    result = run_cli("plot", "network", "ddm", "--sweep", "a", "-o", str(tmp_path / "net.png"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "net.png").read_bytes().startswith(PNG)


def test_plot_network_names_an_unknown_parameter(tmp_path):
    result = run_cli("plot", "network", "ddm", "--sweep", "q", "-o", str(tmp_path / "net.png"))
    assert result.returncode == 2
    assert "no parameter 'q'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "net.png").exists()


def test_evaluate_records_accuracy_in_config_and_card_and_plots(tmp_path):
    shipped = get_manager().locate_network(ssmhub.get_model("ddm"), "lan")
    run = shutil.copytree(shipped, tmp_path / "run")
    report = evaluate(run, n_parameter_sets=5, n_trials=20, seed=1)
    assert report.reference == "exact"
    assert report.max_abs_error is not None
    assert report.n_unscored == 0
    assert 0 <= report.median_abs_error <= report.p90_abs_error <= report.p99_abs_error
    assert report.p99_abs_error <= report.max_abs_error
    config = json.loads((run / "config.json").read_text())
    assert config["metrics"]["accuracy"] == report.model_dump()
    card = (run / "README.md").read_text()
    assert f"| log-likelihood (nats) | {report.median_abs_error:.4g} |" in card
    assert f"| {report.max_abs_error:.4g} |" in card
    assert "history" not in card
    assert (run / "accuracy.png").read_bytes().startswith(PNG)


def test_evaluate_without_a_reference_likelihood_says_so_and_records_nothing(tmp_path):
    """levy has KDE labels: no closed form, and PyDDM cannot solve it."""
    import numpy as np

    from ssmhub.network import read_network, save_network, shipped_network

    spec = ssmhub.get_model("levy")
    ddm = read_network(shipped_network("ssmhub_ddm", "lan"))
    config = ddm.config.model_copy(
        update={
            "model": "levy",
            "parameter_names": spec.parameter_names,
            "inputs": (*spec.parameter_names, "rt", "response"),
            "box": {p.name: (p.lower, p.upper) for p in spec.parameters},
            "metrics": {},
            "correction": None,  # the ddm's correction takes the ddm's parameters
        }
    )
    (kernel, bias), *rest = [(np.array(k), np.array(b)) for k, b in ddm.weights]
    kernel = np.insert(kernel, 3, 0.0, axis=0)  # a row for alpha, the extra parameter
    run = tmp_path / "levy-lan"
    save_network(run, config, [(kernel, bias), *rest])
    before = (run / "config.json").read_text()

    result = run_cli("evaluate", str(run))
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert (
        "error: model 'levy' has no reference likelihood to measure a network against: no "
        "plugin registers an 'exact' likelihood for it, and PyDDM cannot solve model 'levy' "
        "(Non-Gaussian noise (levy) not supported by PyDDM)" in message
    )
    assert "check its networks by parameter recovery instead (benchmarks/recovery.py)" in message
    assert "Traceback" not in result.stderr + result.stdout
    assert (run / "config.json").read_text() == before
    assert not (run / "accuracy.png").exists()
