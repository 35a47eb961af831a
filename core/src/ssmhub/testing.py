"""Conformance checks: does an installed model keep ssmhub's contract?

A plugin's tests run every check with one subclass::

    from ssmhub.testing import PluginConformance


    class TestConformance(PluginConformance):
        model = "mymodel"

Each check is also a plain function (`check_registered`, `check_spec`, `check_simulator`,
`check_recipe`, `check_network`, `check_likelihoods`) raising `ConformanceError`, whose
message names the model, the field, parameter or file, and the rule broken. The checks go
through the installed plugins, as ``ssmhub`` itself does, so the plugin must be installed
(``pip install -e .``). Networks are looked for in the plugins alone (an empty cache, no
registry): the checks test what the plugin ships and never download.
"""

from __future__ import annotations

import difflib
import os
import pickle
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from ssmhub.errors import SsmhubError
from ssmhub.generate import columns_for, make_shard
from ssmhub.labels import check_estimator
from ssmhub.network import CONFIG, NetworkConfig, read_network
from ssmhub.plugins import get_manager
from ssmhub.recipe import NetworkKind, Recipe
from ssmhub.simulator import OMITTED
from ssmhub.spec import ModelSpec

__all__ = [
    "ConformanceError",
    "PluginConformance",
    "check_likelihoods",
    "check_network",
    "check_recipe",
    "check_registered",
    "check_simulator",
    "check_spec",
]


class ConformanceError(AssertionError):
    """A model breaks ssmhub's contract: ``model '<name>': <where>: <rule>``."""

    def __init__(self, model: str, where: str, rule: str) -> None:
        super().__init__(f"model {model!r}: {where}: {rule}")


def check_registered(model: str) -> ModelSpec:
    """The installed spec of ``model``, registered by exactly one plugin."""
    manager = get_manager()
    catalog = manager.catalog
    if model in catalog.conflicts:
        raise ConformanceError(
            model,
            "registration",
            f"registered more than once (by {', '.join(catalog.conflicts[model])}); a model "
            "name must be registered exactly once, or neither registration is used",
        )
    if model not in catalog.specs:
        errors = [f"{r.distribution}: {e}" for r in manager.records.values() for e in r.errors]
        why = (
            f"plugin errors: {'; '.join(errors)}"
            if errors
            else "is the plugin installed (pip install -e .) with an entry point in the group "
            "'ssmhub'?"
        )
        raise ConformanceError(model, "registration", f"no installed plugin registers it; {why}")
    return catalog.specs[model]


def check_spec(spec: ModelSpec) -> None:
    """The spec passes validation, and agrees with the ssm-simulators model it names."""
    try:
        ModelSpec.model_validate(spec.model_dump())
    except ValidationError as exc:
        raise ConformanceError(spec.name, "spec", _validation_errors(exc)) from None
    if spec.ssms_model is not None:
        _check_ssms_model(spec)


def _check_ssms_model(spec: ModelSpec) -> None:
    from ssms.config import model_config

    config = model_config.get(spec.ssms_model)
    if config is None:
        close = difflib.get_close_matches(spec.ssms_model, model_config, n=3)
        raise ConformanceError(
            spec.name,
            "ssms_model",
            f"{spec.ssms_model!r} is not an ssm-simulators model"
            + (f" (close names: {', '.join(close)})" if close else ""),
        )
    theirs = list(config["params"])
    if sorted(theirs) != sorted(spec.parameter_names):
        raise ConformanceError(
            spec.name,
            "parameters",
            f"the spec has {list(spec.parameter_names)} but ssm-simulators' "
            f"{spec.ssms_model!r} takes {theirs}: the simulator is called with the spec's "
            "names, so they must be the same",
        )
    choices = config.get("choices")
    if choices is not None and sorted(choices) != sorted(spec.choices):
        raise ConformanceError(
            spec.name,
            "choices",
            f"the spec has {list(spec.choices)} but ssm-simulators' {spec.ssms_model!r} "
            f"answers {list(choices)}",
        )


def check_simulator(spec: ModelSpec, n_rows: int = 3, n_samples: int = 200, seed: int = 0) -> None:
    """The simulator keeps the `ssmhub.simulator.Simulator` contract at random parameters.

    Parameters are drawn uniformly within the bounds (``n_rows`` rows, then a single row):
    rt and response of shape (rows, ``n_samples``), finite rts above zero (and above ``t``,
    the non-decision time, where the model has one) except the omission mark -999, responses
    among the choices, the same trials for the same seed, and a simulator that pickles.
    """
    try:
        simulator = get_manager().simulator(spec)
    except SsmhubError as exc:
        raise ConformanceError(spec.name, "simulator", str(exc)) from None
    try:
        pickle.dumps(simulator)
    except Exception as exc:
        raise ConformanceError(
            spec.name,
            "simulator",
            f"{type(simulator).__name__} does not pickle ({type(exc).__name__}: {exc}); "
            "ssmhub generate sends it to Dask workers: use a module-level class or function",
        ) from None
    rng = np.random.default_rng(seed)
    lower, upper = spec.bounds()
    for k in (n_rows, 1):
        rows = rng.uniform(lower, upper, size=(k, len(lower)))
        theta = {name: rows[:, i].copy() for i, name in enumerate(spec.parameter_names)}
        sim_seed = int(rng.integers(2**31))
        first = _simulate(spec, simulator, theta, n_samples, sim_seed)
        _check_trials(spec, theta, first, (k, n_samples))
        again = _simulate(spec, simulator, theta, n_samples, sim_seed)
        same = np.array_equal(first.rt, again.rt) and np.array_equal(first.response, again.response)
        if not same:
            raise ConformanceError(
                spec.name,
                "simulator",
                f"seed {sim_seed} gave other trials on a second call; the same seed must give "
                "the same trials",
            )


def _simulate(
    spec: ModelSpec, simulator: Any, theta: dict[str, np.ndarray], n: int, seed: int
) -> Any:
    try:
        sim = simulator(theta, n, seed)
    except Exception as exc:
        raise ConformanceError(
            spec.name,
            "simulator",
            f"raised {type(exc).__name__}: {exc} at {_values(theta, 0)}",
        ) from exc
    if not (hasattr(sim, "rt") and hasattr(sim, "response")):
        raise ConformanceError(
            spec.name,
            "simulator",
            f"returned {type(sim).__name__}, expected ssmhub.Simulation(rt, response)",
        )
    return sim


def _check_trials(
    spec: ModelSpec, theta: dict[str, np.ndarray], sim: Any, shape: tuple[int, int]
) -> None:
    for field in ("rt", "response"):
        got = np.shape(getattr(sim, field))
        if got != shape:
            raise ConformanceError(
                spec.name,
                f"simulator {field}",
                f"has shape {got}, expected {shape}: one row per parameter row, one column "
                "per trial",
            )
    rt = np.asarray(sim.rt, dtype=np.float64)
    decided = rt != OMITTED
    rules = [
        (~np.isfinite(rt), f"must be finite (an omitted trial gets {OMITTED})"),
        (decided & (rt <= 0), f"must be positive (only an omitted trial gets {OMITTED})"),
    ]
    ndt = spec.non_decision_time
    if ndt is not None:
        rules.append(
            (decided & (rt <= theta[ndt][:, None]), f"must exceed {ndt}, the non-decision time")
        )
    for bad, rule in rules:
        if bad.any():
            row, col = np.unravel_index(np.argmax(bad), bad.shape)
            raise ConformanceError(
                spec.name, "simulator rt", f"{rt[row, col]:g} at {_values(theta, row)}: {rule}"
            )
    response = np.asarray(sim.response)
    bad = ~np.isin(response, spec.choices) & decided  # an omitted trial's response is ignored
    if bad.any():
        row, col = np.unravel_index(np.argmax(bad), bad.shape)
        raise ConformanceError(
            spec.name,
            "simulator response",
            f"{response[row, col]} at {_values(theta, row)} is not one of the choices "
            f"{list(spec.choices)}",
        )


def _values(theta: Mapping[str, np.ndarray], row: int) -> str:
    return ", ".join(f"{name}={values[row]:.4g}" for name, values in theta.items())


def check_recipe(spec: ModelSpec, kind: NetworkKind) -> np.ndarray:
    """The ``kind`` recipe in force validates against the spec and makes a tiny dataset.

    The dataset is made by the real code (`ssmhub.generate.make_shard`, in this process)
    from the recipe shrunk to two parameter sets; its rows are returned.
    """
    manager = get_manager()
    where = f"{kind} recipe"
    recipe = manager.recipe(spec, kind)
    if not isinstance(recipe, Recipe):
        raise ConformanceError(
            spec.name, where, f"is a {type(recipe).__name__}, expected a ssmhub.Recipe"
        )
    if recipe.kind != kind:
        raise ConformanceError(spec.name, f"{where} kind", f"is {recipe.kind!r}, not {kind!r}")
    try:
        Recipe.model_validate(recipe.model_dump())
        recipe.resolved_box(spec)
        check_estimator(spec, recipe, manager.find_likelihood(spec, "exact"))
    except ValidationError as exc:
        raise ConformanceError(spec.name, where, _validation_errors(exc)) from None
    except (ValueError, SsmhubError) as exc:
        raise ConformanceError(spec.name, where, str(exc)) from None
    tiny = recipe.model_copy(  # made in seconds, by the real labelling code
        update={
            "n_parameter_sets": 2,
            "shard_size": 2,
            "n_simulations": min(recipe.n_simulations, 1000),
            "n_training_points": min(recipe.n_training_points, 50),
        }
    )
    try:
        rows = make_shard(spec.name, tiny, 0)
    except Exception as exc:
        raise ConformanceError(
            spec.name,
            where,
            f"making a tiny dataset failed: {type(exc).__name__}: {exc}",
        ) from exc
    _check_rows(spec, kind, rows, len(columns_for(spec, kind)))
    return rows


def _check_rows(spec: ModelSpec, kind: NetworkKind, rows: np.ndarray, width: int) -> None:
    where = f"{kind} recipe data"
    if rows.ndim != 2 or rows.shape[1] != width or not len(rows):
        raise ConformanceError(
            spec.name, where, f"shape {rows.shape}, expected some rows of {width} columns"
        )
    p = len(spec.parameters)
    # An mnle's undecided trials are rows with rt and response NaN (`ssmhub.mnle`).
    decided = ~np.isnan(rows[:, p]) if kind == "mnle" else np.ones(len(rows), bool)
    if not (np.all(np.isfinite(rows[decided])) and np.all(np.isfinite(rows[~decided, :p]))):
        raise ConformanceError(spec.name, where, "holds non-finite values")
    if kind == "mnle" and np.any(~np.isnan(rows[~decided, p + 1])):
        raise ConformanceError(spec.name, where, "an undecided trial (rt NaN) has a response")
    if kind in ("lan", "mnle"):
        rows = rows[decided]
        bad = ~np.isin(rows[:, p + 1], spec.choices)
        if bad.any():
            raise ConformanceError(
                spec.name,
                where,
                f"response {rows[bad.argmax(), p + 1]:g} is not one of {list(spec.choices)}",
            )
    elif np.any((rows[:, p] < 0) | (rows[:, p] > 1)):
        raise ConformanceError(spec.name, where, "p_upper outside [0, 1]")


def check_network(spec: ModelSpec, kind: NetworkKind, seed: int = 0) -> Path | None:
    """The ``kind`` network the plugin ships fits the spec and is finite; None if it ships none.

    Its config names this model, kind and the spec's parameters in order, within the
    spec's bounds; its weights load; on rows drawn within its box it gives finite values
    and finite gradients (``jax.grad``).
    """
    import jax

    with _shipped_only():
        found = get_manager().locate_network(spec, kind)
    if found is None:
        return None
    path = Path(found)
    where = str(path / CONFIG)
    try:
        config = NetworkConfig.model_validate_json((path / CONFIG).read_text())
    except (OSError, ValidationError) as exc:
        raise ConformanceError(spec.name, where, f"unreadable network config: {exc}") from None
    _check_network_config(spec, kind, config, where)
    try:
        network = read_network(path, spec)
    except SsmhubError as exc:  # its message names the file
        raise ConformanceError(spec.name, f"{kind} network", str(exc)) from None
    rows = _network_rows(spec, config, np.random.default_rng(seed))
    values = np.asarray(network(rows))
    if values.shape != (len(rows),) or not np.all(np.isfinite(values)):
        raise ConformanceError(
            spec.name,
            f"{kind} network at {path}",
            f"gives values of shape {values.shape}, {np.sum(~np.isfinite(values))} not finite, "
            f"for {len(rows)} rows within its box; expected one finite value per row",
        )
    grads = np.asarray(jax.grad(lambda x: network(x).sum())(rows))
    if not np.all(np.isfinite(grads)):
        raise ConformanceError(
            spec.name, f"{kind} network at {path}", "gradients are not finite within its box"
        )
    return path


def _check_network_config(
    spec: ModelSpec, kind: NetworkKind, config: NetworkConfig, where: str
) -> None:
    if config.parameter_names != spec.parameter_names:
        raise ConformanceError(
            spec.name,
            where,
            f"parameter_names {list(config.parameter_names)} differ from the spec's "
            f"{list(spec.parameter_names)}: a network must take the model's parameters in the "
            "spec's order",
        )
    if config.model != spec.name or config.kind != kind:
        raise ConformanceError(
            spec.name,
            where,
            f"holds a {config.kind} network of model {config.model!r}, offered as the "
            f"{kind} network of {spec.name!r}",
        )
    for p in spec.parameters:
        lo, hi = config.box.get(p.name, (np.nan, np.nan))
        if not p.lower <= lo < hi <= p.upper:
            raise ConformanceError(
                spec.name,
                where,
                f"box[{p.name!r}] = [{lo:g}, {hi:g}] must lie within the spec's bounds "
                f"[{p.lower:g}, {p.upper:g}]",
            )


def _network_rows(spec: ModelSpec, config: NetworkConfig, rng: np.random.Generator) -> np.ndarray:
    """64 input rows within the network's box; a LAN's rts lie beyond the non-decision time."""
    n = 64
    params = np.column_stack([rng.uniform(*config.box[name], n) for name in spec.parameter_names])
    if config.kind == "cpn":
        return params.astype(np.float32)
    t = spec.non_decision_time_of(dict(zip(spec.parameter_names, params.T, strict=True)))
    rt = t + rng.uniform(0.05, 5.0, n)
    response = rng.choice(np.array(spec.choices, dtype=np.float64), n)
    return np.column_stack([params, rt, response]).astype(np.float32)


def check_likelihoods(spec: ModelSpec, seed: int = 0) -> list[str]:
    """Every likelihood offered for the model builds into ssmhub's PyTensor Op; their names.

    For each builder that supports the spec (``lan`` when a LAN ships; a closed form...), an
    `ssmhub.pymc.SSM` distribution is built and its log-likelihood and gradient compiled and
    evaluated on the model's own trials at the centre of the likelihood's box: all finite.
    """
    with _shipped_only():
        names = sorted({b.name for b in get_manager().likelihoods() if b.supports(spec)})
        for name in names:
            _check_likelihood(spec, name, seed)
    return names


def _check_likelihood(spec: ModelSpec, name: str, seed: int) -> None:
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    from ssmhub.pymc import SSM

    where = f"likelihood {name!r}"
    manager = get_manager()
    try:
        likelihood = manager.likelihood(spec, name)
    except Exception as exc:
        raise ConformanceError(
            spec.name, where, f"does not build: {type(exc).__name__}: {exc}"
        ) from exc
    box = likelihood.box or {}
    centre = {p.name: float(np.mean(box.get(p.name, (p.lower, p.upper)))) for p in spec.parameters}
    sim = manager.simulator(spec)({k: np.array([v]) for k, v in centre.items()}, 50, seed)
    trials = np.column_stack([sim.rt[0], sim.response[0]])
    trials = trials[trials[:, 0] != OMITTED]
    params = {n: pt.scalar(n, dtype="float64") for n in spec.parameter_names}
    try:
        logp = pm.logp(SSM.dist(spec.name, name, **params), trials)
        grads = pt.grad(logp.sum(), list(params.values()))
        values, *gradients = pytensor.function(list(params.values()), [logp, *grads])(
            *centre.values()
        )
    except Exception as exc:
        raise ConformanceError(
            spec.name, where, f"fails inside the PyMC Op: {type(exc).__name__}: {exc}"
        ) from exc
    if not np.all(np.isfinite(values)):
        raise ConformanceError(
            spec.name,
            where,
            f"gives non-finite log-likelihoods for the model's own trials at "
            f"{_values({k: [v] for k, v in centre.items()}, 0)}",
        )
    for pname, grad in zip(spec.parameter_names, gradients, strict=True):
        if not np.isfinite(grad):
            raise ConformanceError(spec.name, where, f"the gradient in {pname!r} is not finite")


@contextmanager
def _shipped_only() -> Iterator[None]:
    """Networks from plugins alone: an empty, throw-away cache and ssmhub offline, so that
    neither a network of the user's nor a registry's stands in for the plugin's."""
    names = ("SSMHUB_HOME", "SSMHUB_OFFLINE")
    saved = {name: os.environ.get(name) for name in names}
    with tempfile.TemporaryDirectory() as home:
        os.environ.update({"SSMHUB_HOME": home, "SSMHUB_OFFLINE": "1"})
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _validation_errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


class PluginConformance:
    """Subclass it in a plugin's tests, naming the model, for one pytest test per check.

    Checks with nothing to check (no shipped network, no likelihood) are skipped, saying why.
    """

    model: ClassVar[str] = ""

    def _spec(self) -> ModelSpec:
        if not self.model:
            raise TypeError(f"{type(self).__name__}: set the class attribute model = '<name>'")
        return check_registered(self.model)

    def test_registered_once(self) -> None:
        self._spec()

    def test_spec(self) -> None:
        check_spec(self._spec())

    def test_simulator(self) -> None:
        check_simulator(self._spec())

    def test_lan_recipe(self) -> None:
        self._recipe("lan")

    def test_cpn_recipe(self) -> None:
        self._recipe("cpn")

    def test_mnle_recipe(self) -> None:
        self._recipe("mnle")

    def test_lan_network(self) -> None:
        self._network("lan")

    def test_cpn_network(self) -> None:
        self._network("cpn")

    def test_mnle_network(self) -> None:
        self._network("mnle")

    def test_likelihoods(self) -> None:
        if not check_likelihoods(self._spec()):
            _skip(f"model {self.model!r} has no likelihood (no shipped network, no closed form)")

    def _kind_of_model(self, kind: NetworkKind) -> ModelSpec:
        spec = self._spec()
        if kind not in spec.network_kinds:
            _skip(
                f"model {self.model!r} has {len(spec.choices)} choices: a {kind} network "
                "represents two only"
            )
        return spec

    def _recipe(self, kind: NetworkKind) -> None:
        check_recipe(self._kind_of_model(kind), kind)

    def _network(self, kind: NetworkKind) -> None:
        if check_network(self._kind_of_model(kind), kind) is None:
            _skip(f"the plugin of {self.model!r} ships no {kind} network")


def _skip(reason: str) -> None:
    import pytest  # only the test class needs pytest; the check functions do not

    pytest.skip(reason)
