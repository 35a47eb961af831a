"""The conformance kit, `ssmhub.testing`: the built-in plugins pass it as any plugin would,
and deliberately broken plugins fail it with a message naming the model, the place and the
rule broken.

Broken plugins are real distributions made by the ``plugin_dists`` fixture (conftest.py),
found through their entry points like any installed plugin.
"""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest
from conftest import TINY_DDM_SOURCE

from ssmhub.network import read_network, save_network, shipped_network
from ssmhub.testing import (
    ConformanceError,
    PluginConformance,
    check_network,
    check_recipe,
    check_registered,
    check_simulator,
    check_spec,
)

# -- the built-in plugins, as a plugin's own tests would run the kit ---------------------------


class TestDdm(PluginConformance):
    model = "ddm"

    @pytest.mark.slow  # compiles the PyMC graphs of two likelihoods, exact and lan
    def test_likelihoods(self):
        super().test_likelihoods()


class TestAngle(PluginConformance):
    model = "angle"


class TestWeibull(PluginConformance):
    model = "weibull"


class TestOrnstein(PluginConformance):
    model = "ornstein"


class TestLevy(PluginConformance):
    model = "levy"


class TestLba2(PluginConformance):
    model = "lba2"


class TestLba3(PluginConformance):
    model = "lba3"


class TestRacingDiffusion3(PluginConformance):
    model = "racing_diffusion_3"


class TestDdmSdv(PluginConformance):
    model = "ddm_sdv"


class _TinyDdm(PluginConformance):  # not collected: run by hand below
    model = "tinyddm"


def test_a_check_with_nothing_to_check_is_skipped_saying_why(plugin_dists):
    plugin_dists.add("tinyplug", TINY_DDM_SOURCE)  # a model that ships no networks
    with pytest.raises(pytest.skip.Exception, match="the plugin of 'tinyddm' ships no lan network"):
        _TinyDdm().test_lan_network()
    with pytest.raises(pytest.skip.Exception, match="'tinyddm' has no likelihood"):
        _TinyDdm().test_likelihoods()


def test_a_subclass_without_a_model_says_what_to_set():
    class TestNothing(PluginConformance):
        pass

    with pytest.raises(TypeError, match="TestNothing: set the class attribute model = '<name>'"):
        TestNothing().test_spec()


# -- registration and spec ---------------------------------------------------------------------

BOUNDS_AT_IMPORT = """
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="upside",
    description="upside-down bounds",
    parameters=(ssmhub.Parameter(name="a", lower=2.0, upper=1.0, default=1.5),),
)
"""

# A spec built without validation (model_construct) reaches the catalog; check_spec catches it.
BOUNDS_UNVALIDATED = """
import ssmhub

SPEC = ssmhub.ModelSpec.model_construct(
    name="unchecked",
    description="bounds never validated",
    parameters=(
        ssmhub.Parameter.model_construct(name="a", lower=2.0, upper=1.0, default=1.5),
    ),
    non_decision_time=None,
    choices=(-1, 1),
    ssms_model=None,
    recipes=(),
)


@ssmhub.hookimpl
def register_models(register):
    register(SPEC)
"""

SSMS_NAMES_DIFFER = """
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="leaky",
    description="ornstein, with the leak under another name",
    parameters=tuple(
        ssmhub.Parameter(name=n, lower=lo, upper=hi, default=d)
        for n, lo, hi, d in [
            ("v", -2.0, 2.0, 0.0), ("a", 0.3, 3.0, 1.0), ("z", 0.1, 0.9, 0.5),
            ("leak", -1.0, 1.0, 0.0), ("t", 0.001, 2.0, 0.001),
        ]
    ),
    non_decision_time="t",
    ssms_model="ornstein",
)


@ssmhub.hookimpl
def register_models(register):
    register(SPEC)
"""


def test_a_model_no_plugin_registers_names_the_plugin_errors(plugin_dists):
    plugin_dists.add("upside", BOUNDS_AT_IMPORT)
    with pytest.raises(ConformanceError) as caught:
        check_registered("upside")
    message = str(caught.value)
    assert message.startswith("model 'upside': registration: no installed plugin registers it")
    assert "upside: import failed: ValidationError" in message
    assert "parameter 'a': lower (2.0) must be below upper (1.0)" in message


def test_a_model_registered_twice_is_a_conflict(plugin_dists):
    source = """
        import ssmhub
        from ssmhub_ddm import SPEC

        @ssmhub.hookimpl
        def register_models(register):
            register(SPEC)
    """
    plugin_dists.add("myddm", source)
    with pytest.raises(
        ConformanceError,
        match=r"^model 'ddm': registration: registered more than once "
        r"\(by (ddm, myddm|myddm, ddm)\)",
    ):
        check_registered("ddm")


@pytest.mark.parametrize(
    ("dist", "source", "model", "message"),
    [
        (
            "unchecked",
            BOUNDS_UNVALIDATED,
            "unchecked",
            "model 'unchecked': spec: parameters.0: Value error, parameter 'a': lower (2.0) "
            "must be below upper (1.0)",
        ),
        (
            "leaky",
            SSMS_NAMES_DIFFER,
            "leaky",
            "model 'leaky': parameters: the spec has ['v', 'a', 'z', 'leak', 't'] but "
            "ssm-simulators' 'ornstein' takes ['v', 'a', 'z', 'g', 't']",
        ),
    ],
    ids=["bounds-unvalidated", "ssms-names-differ"],
)
def test_a_bad_spec_is_named(plugin_dists, dist, source, model, message):
    plugin_dists.add(dist, source)
    spec = check_registered(model)
    with pytest.raises(ConformanceError) as caught:
        check_spec(spec)
    assert str(caught.value).startswith(message)


# -- simulator ---------------------------------------------------------------------------------

FAULTY_SIMULATOR = """
import numpy as np
import ssmhub

SPEC = ssmhub.ModelSpec(
    name="faulty",
    description="a simulator that may break its contract",
    parameters=(
        ssmhub.Parameter(name="v", lower=-3.0, upper=3.0, default=0.0),
        ssmhub.Parameter(name="t", lower=0.1, upper=1.0, default=0.3),
    ),
    non_decision_time="t",
)


def contract(theta, n, seed):
    rng = np.random.default_rng(seed)
    k = len(theta["v"])
    return theta["t"][:, None] + rng.uniform(0.1, 2.0, (k, n)), rng.choice([-1, 1], (k, n))


def simulate(theta, n, seed):
    rt, response = contract(theta, n, seed)
    {fault}
    return ssmhub.Simulation(rt, response)


SIMULATOR = {simulator}


@ssmhub.hookimpl
def register_models(register):
    register(SPEC)


@ssmhub.hookimpl
def model_simulator(spec):
    return SIMULATOR if spec.name == "faulty" else None
"""

SIMULATOR_FAULTS = {
    "transposed": (
        "rt, response = rt.T, response.T",
        "simulate",
        "model 'faulty': simulator rt: has shape (200, 3), expected (3, 200): one row per "
        "parameter row, one column per trial",
    ),
    "one-column": (
        "rt, response = rt[:, :1], response[:, :1]",
        "simulate",
        "model 'faulty': simulator rt: has shape (3, 1), expected (3, 200)",
    ),
    "nan-rt": (
        "rt[1, 5] = np.nan",
        "simulate",
        "model 'faulty': simulator rt: nan at v=",
    ),
    "negative-rt": (
        "rt[0, 0] = -1.0",
        "simulate",
        "must be positive (only an omitted trial gets -999)",
    ),
    "rt-not-beyond-t": (
        "rt[2, 3] = theta['t'][2]",
        "simulate",
        "must exceed t, the non-decision time",
    ),
    "responses-0-1": (
        "response = (response + 1) // 2",
        "simulate",
        "model 'faulty': simulator response: 0 at v=",
    ),
    "ignores-seed": (
        "rt, response = contract(theta, n, None)",
        "simulate",
        "model 'faulty': simulator: seed ",
    ),
    "raises": (
        "raise ValueError('no such drift')",
        "simulate",
        "model 'faulty': simulator: raised ValueError: no such drift at v=",
    ),
    "does-not-pickle": (
        "pass",
        "lambda theta, n, seed: simulate(theta, n, seed)",
        "model 'faulty': simulator: function does not pickle (PicklingError",
    ),
}


def add_faulty(plugin_dists, fault: str = "pass", simulator: str = "simulate") -> None:
    plugin_dists.add("faulty", FAULTY_SIMULATOR.format(fault=fault, simulator=simulator))


def test_a_simulator_that_keeps_the_contract_passes(plugin_dists):
    add_faulty(plugin_dists)
    check_simulator(check_registered("faulty"))


@pytest.mark.parametrize("fault", SIMULATOR_FAULTS)
def test_a_simulator_fault_is_named(plugin_dists, fault):
    code, simulator, message = SIMULATOR_FAULTS[fault]
    add_faulty(plugin_dists, code, simulator)
    with pytest.raises(ConformanceError) as caught:
        check_simulator(check_registered("faulty"))
    assert message in str(caught.value)


def test_the_pytest_class_reports_the_same_fault(plugin_dists):
    add_faulty(plugin_dists, "rt, response = rt.T, response.T")

    class TestFaulty(PluginConformance):
        model = "faulty"

    TestFaulty().test_spec()
    with pytest.raises(ConformanceError, match=r"simulator rt: has shape \(200, 3\)"):
        TestFaulty().test_simulator()


# -- recipes -----------------------------------------------------------------------------------

RECIPE_HOOK = """

@ssmhub.hookimpl
def model_recipe(spec, kind):
    return {recipe} if spec.name == "faulty" else None
"""


@pytest.mark.parametrize(
    ("recipe", "where", "phrase"),
    [
        (
            'ssmhub.Recipe(kind=kind, box={"v": (-5.0, 5.0)})',
            "lan recipe",
            "box['v'] = [-5.0, 5.0] reaches outside the spec's bounds [-3.0, 3.0]",
        ),
        ('ssmhub.Recipe(kind="cpn")', "lan recipe kind", "is 'cpn', not 'lan'"),
        (
            'ssmhub.Recipe(kind=kind, estimator="pyddm")',
            "lan recipe",
            "needs an ssm-simulators model",
        ),
        (
            'ssmhub.Recipe(kind=kind, estimator="exact")',
            "lan recipe",
            "'exact' needs a likelihood named 'exact'",
        ),
        ('{"kind": kind}', "lan recipe", "is a dict, expected a ssmhub.Recipe"),
    ],
    ids=["box-outside-bounds", "wrong-kind", "pyddm-without-ssms", "exact-without-one", "a-dict"],
)
def test_a_bad_recipe_is_named(plugin_dists, recipe, where, phrase):
    plugin_dists.add(
        "faulty",
        FAULTY_SIMULATOR.format(fault="pass", simulator="simulate")
        + RECIPE_HOOK.format(recipe=recipe),
    )
    with pytest.raises(ConformanceError) as caught:
        check_recipe(check_registered("faulty"), "lan")
    text = str(caught.value)
    assert text.startswith(f"model 'faulty': {where}: ")
    assert phrase in text


def test_a_recipe_whose_simulations_fail_is_named(plugin_dists):
    # The simulator breaks only on the recipe's larger runs: the tiny dataset reports it.
    add_faulty(plugin_dists, "if n > 200: raise RuntimeError('out of memory')")
    with pytest.raises(
        ConformanceError,
        match=r"^model 'faulty': lan recipe: making a tiny dataset failed: RuntimeError: "
        "out of memory",
    ):
        check_recipe(check_registered("faulty"), "lan")


@pytest.mark.parametrize("kind", ["lan", "cpn"])
def test_a_good_recipe_makes_a_tiny_dataset(plugin_dists, kind):
    add_faulty(plugin_dists)
    rows = check_recipe(check_registered("faulty"), kind)
    if kind == "lan":  # 50 points per parameter set, less those at rt <= t
        assert rows.shape[1] == 5
        assert 50 <= len(rows) <= 100
    else:
        assert rows.shape == (2, 3)


# -- shipped networks --------------------------------------------------------------------------

SHIPPER = TINY_DDM_SOURCE + textwrap.dedent("""
    from pathlib import Path


    @ssmhub.hookimpl
    def locate_network(spec, kind):
        return Path({path!r}) if spec.name == "tinyddm" and kind == "lan" else None
""")


def ddm_lan_as(out, nan_weights: bool = False, **config_changes):
    """The ddm's shipped LAN, saved to ``out`` with its config changed."""
    network = read_network(shipped_network("ssmhub_ddm", "lan"))
    changes = {"model": "tinyddm", "correction": None, **config_changes}  # the LAN alone
    config = network.config.model_copy(update=changes)
    weights = [(np.array(k), np.array(b)) for k, b in network.weights]
    if nan_weights:
        weights[-1][1][:] = np.nan
    save_network(out, config, weights)
    return out


def test_a_shipped_network_that_fits_passes(plugin_dists, tmp_path):
    path = ddm_lan_as(tmp_path / "lan")
    plugin_dists.add("shipper", SHIPPER.format(path=str(path)))
    spec = check_registered("tinyddm")
    assert check_network(spec, "lan") == path
    assert check_network(spec, "cpn") is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"parameter_names": ("v", "a", "z", "tau"), "non_decision_time": "tau"},
            "parameter_names ['v', 'a', 'z', 'tau'] differ from the spec's ['v', 'a', 'z', 't']",
        ),
        (
            {"non_decision_time": "z"},
            "trained with non_decision_time 'z' but the installed model 'tinyddm' declares 't'",
        ),
        (
            {"parameter_names": ("a", "v", "z", "t")},
            "parameter_names ['a', 'v', 'z', 't'] differ from the spec's ['v', 'a', 'z', 't']",
        ),
        (
            {"model": "ddm"},
            "holds a lan network of model 'ddm', offered as the lan network of 'tinyddm'",
        ),
        (
            {"box": {"v": (-5.0, 5.0), "a": (0.3, 2.5), "z": (0.1, 0.9), "t": (0.0, 2.0)}},
            "box['v'] = [-5, 5] must lie within the spec's bounds [-3, 3]",
        ),
        ({"hidden": (100, 100)}, "tensor layers.2.kernel has shape (100, 100), config.json"),
        ({"nan_weights": True}, "gives values of shape (64,), 64 not finite, for 64 rows"),
    ],
    ids=[
        "other-parameters",
        "other-non-decision-time",
        "other-order",
        "other-model",
        "box-outside",
        "wrong-layers",
        "nan",
    ],
)
def test_a_bad_shipped_network_is_named(plugin_dists, tmp_path, changes, message):
    nan = changes.pop("nan_weights", False)
    path = ddm_lan_as(tmp_path / "lan", nan_weights=nan, **changes)
    plugin_dists.add("shipper", SHIPPER.format(path=str(path)))
    with pytest.raises(ConformanceError) as caught:
        check_network(check_registered("tinyddm"), "lan")
    text = str(caught.value)
    assert text.startswith("model 'tinyddm': ")
    assert str(path) in text
    assert message in text


def test_the_kit_ignores_the_users_cache(plugin_dists, tmp_path, monkeypatch):
    # A network in the user's cache overrides a plugin's for users, but not for the kit,
    # which checks what the plugin ships.
    home = tmp_path / "home"
    ddm_lan_as(home / "networks" / "tinyddm" / "lan", parameter_names=("x", "a", "z", "t"))
    monkeypatch.setenv("SSMHUB_HOME", str(home))
    plugin_dists.add("tinyplug", TINY_DDM_SOURCE)
    assert check_network(check_registered("tinyddm"), "lan") is None
    assert os.environ["SSMHUB_HOME"] == str(home)  # the kit's own settings are undone
    assert "SSMHUB_OFFLINE" not in os.environ
