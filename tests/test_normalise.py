"""`ssmhub normalise`: a LAN's correction network, saved with it and used beside its CPN."""

from __future__ import annotations

import shutil
from functools import partial

import numpy as np
import pytest
from cached_networks import use_cached_networks
from conftest import TINY_BOX, run_cli
from safetensors.numpy import load_file, save_file

import ssmhub
from ssmhub.correction import CorrectionSettings, Quadrature
from ssmhub.default_plugins.network_likelihood import cpn_logp, lan_logp
from ssmhub.errors import SsmhubError
from ssmhub.network import PLOT, WEIGHTS, read_network
from ssmhub.normalise import log_mass, normalise
from ssmhub.plugins import get_manager

T = 3  # the column of t in ddm parameter rows


def inside_box(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    box = np.array([TINY_BOX[p] for p in ("v", "a", "z", "t")])
    theta = rng.uniform(box[:, 0], box[:, 1], (n, 4)).astype(np.float32)
    return theta, np.where(rng.random(n) < 0.5, 1.0, -1.0).astype(np.float32)


@pytest.fixture(scope="module")
def corrected(network_home, tmp_path_factory):
    out = tmp_path_factory.mktemp("corrected") / "lan"
    settings = CorrectionSettings(hidden=(32, 32), parameter_sets=20_000, epochs=30, batch_size=256)
    networks = network_home / "networks" / "ddm"
    normalise(networks / "lan", networks / "cpn", out, settings)
    return out


@pytest.fixture
def home_with(network_home, tmp_path, monkeypatch):
    """An SSMHUB_HOME holding the given LAN beside the tiny CPN."""

    def make(lan_dir, cpn_dir=network_home / "networks" / "ddm" / "cpn"):
        networks = tmp_path / "home" / "networks" / "ddm"
        shutil.copytree(lan_dir, networks / "lan")
        shutil.copytree(cpn_dir, networks / "cpn")
        use_cached_networks(monkeypatch, tmp_path / "home")

    return make


def test_quadrature_of_the_exact_density_gives_the_exact_choice_probability():
    exact = get_manager().likelihood(ssmhub.get_model("ddm"), "exact")
    theta, response = inside_box(500, seed=1)
    # Up to 100 s: at a = 2, v = 0, 0.3 % of the mass lies beyond the default's 20 s.
    wide = Quadrature(max_decision_time=100.0)
    got = log_mass(exact.logp_rt, theta, response, T, wide)
    np.testing.assert_allclose(got, exact.logp_choice(theta, response), atol=1e-5)


def test_the_corrected_lan_puts_the_cpns_probability_on_each_response(corrected, home_with):
    home_with(corrected)
    lan, cpn = ssmhub.load_network("ddm", "lan"), ssmhub.load_network("ddm", "cpn")
    likelihood = get_manager().likelihood(ssmhub.get_model("ddm"), "lan")
    theta, response = inside_box(2000, seed=2)
    target = np.asarray(cpn_logp(cpn, ssmhub.get_model("ddm").upper_choice, theta, response))
    before = np.abs(np.asarray(log_mass(partial(lan_logp, lan), theta, response, T)) - target)
    after = np.abs(np.asarray(log_mass(likelihood.logp_rt, theta, response, T)) - target)
    assert after.mean() < before.mean() / 2, (after.mean(), before.mean())


def test_the_correction_is_saved_with_the_lan_and_names_its_cpn(corrected, network_home):
    cpn = read_network(network_home / "networks" / "ddm" / "cpn")
    lan = read_network(corrected)
    correction = lan.config.correction
    assert correction is not None
    assert correction.cpn_sha256 == cpn.weights_sha256
    assert lan.correction is not None
    assert [k.shape for k, _ in lan.correction] == [(5, 32), (32, 32), (32, 1)]
    assert 0 < correction.rms_error <= correction.max_error
    assert "correction network" in (corrected / "README.md").read_text()
    # The LAN itself is untouched: same layers as the network it was made from.
    raw = read_network(network_home / "networks" / "ddm" / "lan")
    for (k1, b1), (k2, b2) in zip(lan.weights, raw.weights, strict=True):
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(b1, b2)


def test_beside_another_cpn_the_correction_is_left_out_with_a_warning(
    corrected, network_home, home_with, tmp_path
):
    other = tmp_path / "other-cpn"
    shutil.copytree(network_home / "networks" / "ddm" / "cpn", other)
    tensors = load_file(other / WEIGHTS)
    tensors["layers.1.bias"] = tensors["layers.1.bias"] + np.float32(0.1)
    save_file(tensors, other / WEIGHTS)
    home_with(corrected, other)
    with pytest.warns(
        UserWarning, match=r"fitted to the CPN with weights sha256 \w{12}, but a CPN"
    ):
        likelihood = get_manager().likelihood(ssmhub.get_model("ddm"), "lan")
    theta, response = inside_box(10, seed=3)
    rt = theta[:, T] + 0.5
    lan = read_network(corrected)
    np.testing.assert_array_equal(
        likelihood.logp_rt(theta, rt, response), lan_logp(lan, theta, rt, response)
    )


def test_a_missing_correction_tensor_is_named(corrected, tmp_path):
    damaged = tmp_path / "lan"
    shutil.copytree(corrected, damaged)
    tensors = load_file(damaged / WEIGHTS)
    del tensors["correction.layers.1.bias"]
    save_file(tensors, damaged / WEIGHTS)
    with pytest.raises(SsmhubError, match=r"correction\.layers\.1\.bias has shape None"):
        read_network(damaged)


def test_normalise_needs_a_lan_and_a_cpn_of_one_model(network_home, tmp_path):
    networks = network_home / "networks" / "ddm"
    settings = CorrectionSettings(parameter_sets=10, epochs=1)
    with pytest.raises(SsmhubError, match=r"cpn: holds a cpn network, not a lan"):
        normalise(networks / "cpn", networks / "cpn", tmp_path / "out", settings)
    with pytest.raises(SsmhubError, match=r"lan: holds a lan network, not a cpn"):
        normalise(networks / "lan", networks / "lan", tmp_path / "out", settings)
    assert not (tmp_path / "out").exists()


def test_the_cli_fits_against_the_installed_cpn_and_records_the_command(
    network_home, tmp_path, monkeypatch
):
    out = tmp_path / "lan"
    lan = network_home / "networks" / "ddm" / "lan"
    args = ["normalise", str(lan), "--out", str(out), "--parameter-sets", "2000"]
    args += ["--epochs", "1", "--hidden", "8"]
    result = run_cli(*args, env={"SSMHUB_HOME": str(network_home)})
    assert result.returncode == 0, result.stderr
    assert "held-out RMS" in result.stdout
    correction = read_network(out).config.correction
    assert correction is not None
    assert correction.command.startswith("ssmhub normalise")
    # The installed CPN: the ddm plugin's, before the cache's copy (not pulled explicitly).
    monkeypatch.setenv("SSMHUB_HOME", str(network_home))
    assert correction.cpn_sha256 == ssmhub.load_network("ddm", "cpn").weights_sha256


def test_the_lans_accuracy_plot_comes_along(network_home, tmp_path):
    lan = tmp_path / "lan"
    shutil.copytree(network_home / "networks" / "ddm" / "lan", lan)
    (lan / PLOT).write_bytes(b"the plot")
    settings = CorrectionSettings(hidden=(4,), parameter_sets=200, epochs=1, batch_size=64)
    normalise(lan, network_home / "networks" / "ddm" / "cpn", tmp_path / "out", settings)
    assert (tmp_path / "out" / PLOT).read_bytes() == b"the plot"
