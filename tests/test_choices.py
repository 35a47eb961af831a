"""Models with more than two choices: the binary network kinds (LAN, CPN, the LAN's
correction) and the Fokker-Planck solver refuse them, naming the model, its choices and the
kind to use instead, so that nothing binary is ever applied to three choices in silence.

The three-choice model is ssm-simulators' race_no_bias_3, installed as a real plugin
distribution (`RACE3_SOURCE`). Fitting it end to end with an mnle network is in
tests/test_mnle.py.
"""

from __future__ import annotations

import pytest
from conftest import RACE3_SOURCE, run_cli

from ssmhub import ModelSpec, Parameter, Recipe
from ssmhub.default_plugins.network_likelihood import NetworkLikelihood
from ssmhub.errors import ChoicesError, UnknownLikelihoodError
from ssmhub.fokker_planck import check_solvable
from ssmhub.generate import generate
from ssmhub.plugins import get_manager

REFUSAL = (
    r"model 'race3' has 3 choices \[0, 1, 2\], but a {kind} network represents two choices "
    r"only; use the mnle kind instead"
)


@pytest.fixture
def race3(plugin_dists) -> ModelSpec:
    plugin_dists.add("ssmhub-race3", RACE3_SOURCE)
    return get_manager().catalog.get("race3")


def test_a_spec_with_three_choices_cannot_carry_a_binary_recipe():
    with pytest.raises(ValueError, match=r"a lan recipe, but a lan network represents two"):
        ModelSpec(
            name="race",
            description="three choices",
            parameters=(Parameter(name="v", lower=0.0, upper=1.0, default=0.5),),
            non_decision_time=None,
            choices=(0, 1, 2),
            recipes=(Recipe(kind="lan"),),
        )


def test_a_two_choice_model_keeps_every_kind_and_three_choices_keep_mnle(race3):
    assert get_manager().catalog.get("ddm").network_kinds == ("lan", "cpn", "mnle")
    assert race3.network_kinds == ("mnle",)


@pytest.mark.parametrize("kind", ["lan", "cpn"])
def test_training_data_for_a_binary_kind_are_refused_before_any_work(race3, tmp_path, kind):
    with pytest.raises(ChoicesError, match=REFUSAL.format(kind=kind)):
        generate("race3", kind, tmp_path / "data", n_workers=1)
    assert not (tmp_path / "data").exists()


def test_the_lan_likelihood_refuses_a_three_choice_model(race3):
    # Refused on the spec alone: a LAN found for this model (pulled, copied by hand) would
    # read responses 0/1/2 as lower/upper.
    with pytest.raises(ChoicesError, match=REFUSAL.format(kind="lan")):
        NetworkLikelihood(get_manager()).build(race3)


def test_the_fokker_planck_solver_refuses_a_three_choice_model(race3):
    with pytest.raises(ChoicesError, match="a Fokker-Planck solution"):
        check_solvable(race3)


def test_without_networks_the_error_names_the_kind_the_model_could_have(race3):
    with pytest.raises(UnknownLikelihoodError, match="no likelihood 'mnle' for model 'race3'"):
        get_manager().likelihood(race3)


def test_the_cli_refuses_in_one_line_and_info_shows_only_the_kinds_that_fit(plugin_dists):
    plugin_dists.add("ssmhub-race3", RACE3_SOURCE)
    refused = run_cli("generate", "race3", "--kind", "cpn", "--out", "x", plugins=plugin_dists)
    assert refused.returncode == 2
    message = " ".join(refused.stderr.split())
    assert "model 'race3' has 3 choices [0, 1, 2], but a cpn network represents" in message
    assert "Traceback" not in refused.stderr
    info = run_cli("info", "race3", plugins=plugin_dists)
    assert info.returncode == 0, info.stderr
    assert "mnle recipe:" in info.stdout
    assert "lan recipe" not in info.stdout
    assert "cpn recipe" not in info.stdout
    assert "choices: [0, 1, 2]" in info.stdout
