"""ModelSpec, Parameter and Recipe validation, and the built-in specs against ssm-simulators."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

import ssmhub
from ssmhub import ModelSpec, Parameter, Recipe
from ssmhub.errors import SsmhubError, ThetaError


def param(name: str = "v", lower: float = -1.0, upper: float = 1.0, default: float = 0.0):
    return Parameter(name=name, lower=lower, upper=upper, default=default)


def spec(**fields) -> ModelSpec:
    base = {
        "name": "m",
        "description": "a test model",
        "parameters": (param("v"), param("a", 0.5, 2.0, 1.0)),
        "non_decision_time": None,
    }
    return ModelSpec(**{**base, **fields})


# -- Parameter ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("lower", "upper"), [(1.0, 0.0), (1.0, 1.0)])
def test_lower_must_be_below_upper(lower, upper):
    with pytest.raises(ValidationError, match=r"parameter 'drift'.*lower.*below upper"):
        Parameter(name="drift", lower=lower, upper=upper, default=lower)


@pytest.mark.parametrize(
    ("lower", "upper"),
    [(0.0, math.inf), (-math.inf, 0.0), (-math.inf, math.inf), (math.nan, 1.0), (0.0, math.nan)],
)
def test_bounds_must_be_finite(lower, upper):
    # The bounds are the box training data is drawn from: it has to be a finite box.
    with pytest.raises(ValidationError, match=r"parameter 'drift': bounds must be finite"):
        Parameter(name="drift", lower=lower, upper=upper, default=0.0)


@pytest.mark.parametrize("default", [-1.5, 1.0001, math.nan])
def test_default_must_lie_inside_bounds(default):
    with pytest.raises(ValidationError, match=r"parameter 'drift': default .* outside"):
        Parameter(name="drift", lower=-1.0, upper=1.0, default=default)


@pytest.mark.parametrize("default", [-1.0, 0.3, 1.0])
def test_default_may_sit_anywhere_in_the_closed_interval(default):
    assert Parameter(name="drift", lower=-1.0, upper=1.0, default=default).default == default


@pytest.mark.parametrize("name", ["", "2v", "v-1", "v 1", "ü"])
def test_parameter_name_is_an_identifier(name):
    # Names become keyword-like keys (--theta v=1, PyMC variable names): identifiers only.
    with pytest.raises(ValidationError, match="name"):
        param(name)


def test_parameter_rejects_unknown_fields():
    with pytest.raises(ValidationError, match="bogus"):
        Parameter(name="v", lower=0, upper=1, default=0.5, bogus=1)


# -- ModelSpec ---------------------------------------------------------------------------------


def test_parameter_names_must_be_unique():
    with pytest.raises(ValidationError, match=r"model 'm': parameter names repeat: v"):
        spec(parameters=(param("v"), param("a", 0.5, 2.0, 1.0), param("v")))


def test_needs_at_least_one_parameter():
    with pytest.raises(ValidationError, match="parameters"):
        spec(parameters=())


@pytest.mark.parametrize("choices", [(1,), (), (1, 1), (-1, 1, -1)])
def test_choices_are_at_least_two_distinct(choices):
    with pytest.raises(ValidationError, match=r"model 'm': choices must be at least two distinct"):
        spec(choices=choices)


@pytest.mark.parametrize("choices", [(0.5, 1), ("left", "right")])
def test_choices_are_integers(choices):
    with pytest.raises(ValidationError, match="choices"):
        spec(choices=choices)


def test_valid_spec_keeps_order_and_values():
    s = spec(choices=(0, 1, 2))
    assert s.parameter_names == ("v", "a")
    assert s.choices == (0, 1, 2)
    lower, upper = s.bounds()
    np.testing.assert_array_equal(lower, [-1.0, 0.5])
    np.testing.assert_array_equal(upper, [1.0, 2.0])
    assert s.parameter("a").default == 1.0
    with pytest.raises(KeyError):
        s.parameter("nope")


def test_spec_is_frozen():
    s = spec()
    with pytest.raises(ValidationError, match="frozen"):
        s.name = "other"
    with pytest.raises(ValidationError, match="frozen"):
        s.parameters[0].lower = -5.0
    with pytest.raises(TypeError):
        s.parameters[0] = param("w")  # a tuple, not a list
    assert s.name == "m"
    assert s.parameters[0].lower == -1.0


def test_spec_rejects_unknown_fields():
    with pytest.raises(ValidationError, match="bogus"):
        spec(bogus=True)


# -- non-decision time and choice meanings -----------------------------------------------------


def test_non_decision_time_must_be_stated():
    fields = {"name": "m", "description": "d", "parameters": (param("v"),)}
    with pytest.raises(ValidationError, match=r"model 'm': non_decision_time is required"):
        ModelSpec(**fields)


def test_non_decision_time_must_name_a_parameter():
    message = r"model 'm': non_decision_time 't' is not one of its parameters \(v, a\), nor None"
    with pytest.raises(ValidationError, match=message):
        spec(non_decision_time="t")


def test_non_decision_time_may_have_any_name():
    s = spec(parameters=(param("v"), param("ndt", 0.0, 1.0, 0.3)), non_decision_time="ndt")
    assert s.non_decision_time == "ndt"
    assert s.non_decision_time_of({"v": 0.5, "ndt": 0.3}) == 0.3
    assert spec().non_decision_time_of({"v": 0.5, "a": 1.0}) == 0.0  # a model without one


@pytest.mark.parametrize("meanings", [("left",), ("left", "right", "middle")])
def test_choice_meanings_give_one_meaning_per_choice(meanings):
    message = r"model 'm': choice_meanings must give one meaning per choice \[-1, 1\], got "
    with pytest.raises(ValidationError, match=message + str(len(meanings))):
        spec(choice_meanings=meanings)


def test_choice_meanings_name_each_choice_and_default_to_its_code():
    s = spec(choices=(0, 1), choice_meanings=("left", "right"))
    assert (s.meaning(0), s.meaning(1)) == ("left", "right")
    assert spec(choices=(0, 1)).meaning(1) == "response 1"


@pytest.mark.parametrize(("choices", "upper", "lower"), [((-1, 1), 1, -1), ((1, 0), 1, 0)])
def test_binary_upper_choice_is_the_largest_whatever_the_order(choices, upper, lower):
    s = spec(choices=choices)
    assert (s.upper_choice, s.lower_choice) == (upper, lower)


@pytest.mark.parametrize("name", ["ddm", "angle", "weibull", "levy", "ornstein"])
def test_builtin_specs_state_their_non_decision_time_and_choices(name):
    s = ssmhub.get_model(name)
    assert s.non_decision_time == "t"
    assert [s.meaning(c) for c in s.choices] == ["lower bound", "upper bound"]


# -- recipes inside a spec ---------------------------------------------------------------------


def test_recipe_box_must_name_known_parameters():
    with pytest.raises(ValidationError, match=r"box names unknown parameter\(s\) w of model 'm'"):
        spec(recipes=(Recipe(kind="lan", box={"w": (0.0, 1.0)}),))


@pytest.mark.parametrize("box", [(-2.0, 0.5), (0.0, 1.5), (-3.0, 3.0)])
def test_recipe_box_must_stay_inside_bounds(box):
    with pytest.raises(ValidationError, match=r"box\['v'\].*outside the spec's bounds"):
        spec(recipes=(Recipe(kind="lan", box={"v": box}),))


def test_recipe_box_inside_bounds_resolves_to_the_full_box():
    s = spec(recipes=(Recipe(kind="lan", box={"v": (-0.5, 0.5)}),))
    assert s.recipe("lan").resolved_box(s) == {"v": (-0.5, 0.5), "a": (0.5, 2.0)}
    assert s.recipe("cpn") is None


def test_recipe_box_interval_must_be_ordered():
    with pytest.raises(ValidationError, match=r"box\['v'\]: lower \(0.5\) must be below"):
        Recipe(kind="lan", box={"v": (0.5, -0.5)})


def test_one_recipe_per_kind():
    with pytest.raises(ValidationError, match="more than one recipe per kind"):
        spec(recipes=(Recipe(kind="lan"), Recipe(kind="lan", estimator="pyddm")))


@pytest.mark.parametrize("mixture", [(0.5, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_recipe_mixture_is_a_distribution(mixture):
    with pytest.raises(ValidationError, match="mixture"):
        Recipe(kind="lan", mixture=mixture)


def test_recipe_digest_tracks_content():
    a, b = Recipe(kind="lan"), Recipe(kind="lan")
    assert a.digest() == b.digest()
    assert len(a.digest()) == 64
    assert Recipe(kind="lan", seed=1).digest() != a.digest()
    assert Recipe(kind="cpn").digest() != a.digest()


# -- check_theta -------------------------------------------------------------------------------


def test_check_theta_broadcasts_scalars_to_trialwise_length():
    out = spec().check_theta({"v": [0.1, 0.2, 0.3], "a": 1.0})
    assert list(out) == ["v", "a"]
    np.testing.assert_array_equal(out["v"], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(out["a"], [1.0, 1.0, 1.0])


@pytest.mark.parametrize(
    ("theta", "message"),
    [
        ({"v": 0.0}, r"needs a value for 'a'"),
        ({"v": 0.0, "a": 1.0, "q": 2.0}, r"unknown parameter\(s\) 'q'"),
        ({"v": 1.5, "a": 1.0}, r"parameter 'v' = 1.5 lies outside its bounds \[-1, 1\]"),
        ({"v": [0.0, 0.5, -7.0], "a": 1.0}, r"parameter 'v' = -7 \(row 2\) lies outside"),
        ({"v": [0.0, 0.5], "a": [1.0, 1.1, 1.2]}, r"differ in length: v=2, a=3"),
        ({"v": [[0.0]], "a": 1.0}, r"parameter 'v' must be a number or a 1-D array"),
        ({"v": math.nan, "a": 1.0}, r"parameter 'v' has a non-finite value"),
    ],
)
def test_check_theta_names_the_problem(theta, message):
    with pytest.raises(ThetaError, match=message) as info:
        spec().check_theta(theta)
    assert isinstance(info.value, SsmhubError)  # so the CLI reports it without a traceback


# -- built-in specs against ssm-simulators -----------------------------------------------------


@pytest.mark.parametrize("name", ["ddm", "angle", "weibull", "ornstein", "levy"])
def test_builtin_spec_matches_ssm_simulators(name):
    from ssms.config import model_config

    config = model_config[name]
    s = ssmhub.get_model(name)
    assert s.ssms_model == name
    assert list(s.parameter_names) == list(config["params"])
    lower, upper = s.bounds()
    np.testing.assert_array_equal(lower, np.asarray(config["param_bounds"][0], dtype=float))
    np.testing.assert_array_equal(upper, np.asarray(config["param_bounds"][1], dtype=float))
    defaults = [p.default for p in s.parameters]
    np.testing.assert_array_equal(defaults, np.asarray(config["default_params"], dtype=float))
    assert list(s.choices) == list(config["choices"])
