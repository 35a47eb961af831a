"""Sequential sampling models as PyMC distributions: `SSM`.

``SSM("y", model="ddm", likelihood="mnle", observed=data, v=v, a=a, z=0.5, t=t)`` adds the
trials of one model to a PyMC model. The likelihood comes from a builder registered with
the ``register_likelihoods`` hook (``mnle``, ``lan``: trained networks; ``exact``: the
ddm's closed form), is guarded by `ssmhub.ops.guard` and wrapped in one
`ssmhub.ops.LogLikeOp`, so the PyMC, numpyro and blackjax samplers all run it; draws come
from the model's simulator.

Observed rows with an rt are scored by ``logp_rt``, rows with a NaN rt by ``logp_choice``;
the rows are split once, when the graph is built, and the log-likelihood keeps one entry per
observed row (for ``pm.compute_log_likelihood`` and ``arviz.loo``).

Importing this module changes nothing in PyMC: `ssmhub.sampling.sample` (also here as
``sample``) is ``pm.sample`` with the fixes this stack needs, applied for that call only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor import config
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors
from pytensor.tensor.basic import infer_static_shape
from pytensor.tensor.special import logaddexp
from pytensor.tensor.type import float_dtypes
from pytensor.tensor.variable import TensorConstant, TensorVariable

from ssmhub.errors import SsmhubError, ThetaError
from ssmhub.likelihood import Array, Likelihood
from ssmhub.observed import ObservedDataError, check_observed, where
from ssmhub.ops import LogLikeOp, guard
from ssmhub.plugins import get_manager
from ssmhub.sampling import sample
from ssmhub.simulator import Simulator, marked
from ssmhub.spec import ModelSpec
from ssmhub.trial_groups import trial_groups

__all__ = [
    "SSM",
    "OutsideTrainingBoxWarning",
    "initvals",
    "provenance",
    "sample",
]

Box = dict[str, tuple[float, float]]


class OutsideTrainingBoxWarning(UserWarning):
    """A prior reaches where the network was not trained: the likelihood is -inf there."""


class SSM:
    """A sequential sampling model's trials as a PyMC distribution.

    Every parameter of the model is given, as a number, a PyMC variable, or a length-N
    tensor (one value per trial). ``observed`` is an (N, 2) array of ``[rt, response]`` rows
    or a DataFrame with those columns; a NaN rt is a response without a reaction time.
    ``likelihood`` names a registered one (``mnle``, ``lan``, ``exact``...); None: the
    model's best network (`PluginManager.default_likelihood`: its mnle, else its LAN). With
    a network likelihood, parameters outside the networks' training box get -inf unless
    ``extrapolate=True``; priors reaching outside it give an `OutsideTrainingBoxWarning`.
    A trial with rt <= t (`ModelSpec.non_decision_time`) is impossible (`ssmhub.ops.guard`),
    yet ``pm.sample()`` may start there and leave; a fixed t at or above an observed rt is
    refused. ``pm.sample(initvals=ssmhub.pymc.initvals())`` starts t below the fastest rt.

    ``p_outlier`` (a number or a PyMC variable) mixes in contaminant trials, as is standard:
    a uniform choice, with an rt uniform on (0, ``outlier_rt_max``) (None: the slowest
    observed rt). A trial without an rt gets the matching mixture of choice probabilities.
    """

    def __new__(
        cls,
        name: str,
        model: str = "ddm",
        likelihood: str | None = None,
        *,
        observed: Any = None,
        extrapolate: bool = False,
        p_outlier: Any = None,
        outlier_rt_max: float | None = None,
        dims: Any = None,
        shape: Any = None,
        **params: Any,
    ) -> TensorVariable:
        dist = _Distribution.create(model, likelihood, extrapolate, params)
        tensors = dist.tensors(params)
        data, observed = dist.observe(observed, tensors)
        if p_outlier is not None and outlier_rt_max is None and data is not None:
            outlier_rt_max = float(np.nanmax(data[:, 0], initial=0.0))
        mixture = dist.contaminants(p_outlier, outlier_rt_max)
        rv = pm.CustomDist(
            name,
            *tensors.values(),
            *mixture,
            **dist.custom_dist_kwargs(),
            observed=observed,
            dims=dims,
            shape=shape,
        )
        rv.tag.ssmhub_provenance = {
            "variable": name,
            "model": dist.spec.name,
            "likelihood": dist.name,
            "networks": list(dist.likelihood.provenance),
        }
        pm_model = pm.modelcontext(None)
        if dist.box is not None:
            _warn_outside_box(pm_model, tensors, dist.box, f"{dist.name!r} likelihood")
        ndt = dist.spec.non_decision_time
        if data is not None and ndt is not None and p_outlier is None:  # else nothing is impossible
            _check_t_start(pm_model, rv, ndt, tensors[ndt], data[:, 0])
        return rv

    @classmethod
    def dist(
        cls,
        model: str = "ddm",
        likelihood: str | None = None,
        *,
        extrapolate: bool = False,
        p_outlier: Any = None,
        outlier_rt_max: float | None = None,
        shape: Any = None,
        size: Any = None,
        **params: Any,
    ) -> TensorVariable:
        """The distribution outside a model (for ``pm.logp``, ``pm.draw``)."""
        dist = _Distribution.create(model, likelihood, extrapolate, params)
        mixture = dist.contaminants(p_outlier, outlier_rt_max)
        return pm.CustomDist.dist(
            *dist.tensors(params).values(),
            *mixture,
            **dist.custom_dist_kwargs(),
            shape=shape,
            size=size,
        )


@dataclass
class _Distribution:
    """One model with one likelihood: the logp and random functions CustomDist calls."""

    spec: ModelSpec
    name: str  # of the likelihood
    likelihood: Likelihood  # guarded
    box: Box | None  # parameters outside it get -inf; None: no box (or extrapolate=True)
    simulator: Simulator
    ops: dict[bytes, LogLikeOp] = field(default_factory=dict)
    outlier_rt_max: float | None = None  # set: the last parameter is p_outlier

    @classmethod
    def create(
        cls, model: str, likelihood: str | None, extrapolate: bool, params: Mapping[str, Any]
    ) -> _Distribution:
        manager = get_manager()
        spec = manager.catalog.get(model)
        _check_names(spec, params)
        name = likelihood or manager.default_likelihood(spec)
        built = manager.likelihood(spec, name)
        box = None if extrapolate else built.box
        return cls(spec, name, guard(built, spec, box), box, manager.simulator(spec))

    def tensors(self, params: Mapping[str, Any]) -> dict[str, TensorVariable]:
        """The parameters in spec order as float tensors, one number or one per trial."""
        out = {}
        for name in self.spec.parameter_names:
            x = pt.as_tensor_variable(params[name])
            if x.ndim > 1:
                raise ThetaError(
                    f"parameter {name!r} must be a number or one value per trial (1-D), "
                    f"got {x.ndim}-D"
                )
            out[name] = x if x.dtype in float_dtypes else x.astype(config.floatX)
            if self.box is not None and isinstance(x, TensorConstant):
                lo, hi = self.box[name]
                values = np.atleast_1d(x.data)
                outside = np.flatnonzero((values < lo) | (values > hi))
                if outside.size:
                    raise ThetaError(
                        f"parameter {name!r} = {values[outside[0]]:g} lies outside the training "
                        f"box [{lo:g}, {hi:g}] of the networks, where the likelihood is -inf; "
                        "pass extrapolate=True to evaluate them there anyway"
                    )
        return out

    def contaminants(self, p_outlier: Any, rt_max: float | None) -> list[TensorVariable]:
        """The extra parameter of a contaminant mixture: [p_outlier], or [] without one."""
        if p_outlier is None:
            return []
        if rt_max is None or not np.isfinite(rt_max) or rt_max <= 0:
            raise ThetaError(
                f"outlier_rt_max = {rt_max}: contaminant rts are uniform on (0, outlier_rt_max), "
                "which needs a positive number (None takes the slowest observed rt)"
            )
        p = pt.as_tensor_variable(p_outlier)
        if p.ndim > 0:
            raise ThetaError(f"p_outlier must be one number or a scalar variable, got {p.ndim}-D")
        if isinstance(p, TensorConstant) and not 0 <= float(p.data) < 1:
            raise ThetaError(f"p_outlier = {float(p.data):g} must lie in [0, 1)")
        self.outlier_rt_max = float(rt_max)
        return [p if p.dtype in float_dtypes else p.astype(config.floatX)]

    def custom_dist_kwargs(self) -> dict[str, Any]:
        n = len(self.spec.parameters) + (self.outlier_rt_max is not None)
        return {
            "logp": self.logp,
            "random": self.random,
            "signature": ",".join(["()"] * n) + "->(2)",
            "class_name": f"SSM_{self.spec.name}",
        }

    def observe(
        self, observed: Any, tensors: Mapping[str, TensorVariable]
    ) -> tuple[np.ndarray | None, TensorVariable | None]:
        """The validated trials, and what to hand PyMC as ``observed``.

        Arrays become a constant, which PyMC does not search for NaNs to impute, and whose
        rows `logp` splits once; ``pm.Data`` stays shared, checked at its current value.
        """
        if observed is None:
            return None, None
        if isinstance(observed, SharedVariable):
            return self.check(observed.get_value(), tensors), observed
        data = self.check(observed, tensors)
        return data, pt.constant(data.astype(config.floatX))

    def check(self, observed: Any, tensors: Mapping[str, TensorVariable]) -> np.ndarray:
        """Validate the observed trials against the model and the trial-wise parameters."""
        lengths = {name: _length(x) for name, x in tensors.items()}
        data = check_observed(
            observed,
            self.spec.choices,
            {name: n for name, n in lengths.items() if n is not None and n > 1},
        )
        horizon = self.likelihood.max_rt
        if horizon is not None and (data[:, 0] > horizon).any():
            row = int(np.argmax(data[:, 0] > horizon))
            raise ObservedDataError(
                f"{where('rt', row)}: {data[row, 0]:g} s lies beyond {horizon:g} s, the "
                f"longest rt the {self.name!r} likelihood of model "
                f"{self.spec.name!r} was trained on; a network is not evaluated where it has "
                "seen no data: leave such trials out, or train one with a longer horizon "
                "(the recipe's max_rt)"
            )
        no_rt = np.isnan(data[:, 0])
        if no_rt.any() and self.likelihood.logp_choice is None:
            raise ObservedDataError(
                f"{where('rt', int(np.argmax(no_rt)))}: a trial without an rt needs a "
                f"choice likelihood, and this likelihood of model {self.spec.name!r} has none "
                "(for 'lan': train a CPN)"
            )
        return data

    def logp(self, value: TensorVariable, *params: TensorVariable) -> TensorVariable:
        """One log-likelihood per row of ``value``; rows are split once if ``value`` is data."""
        if value.ndim != 2:
            raise SsmhubError(
                f"SSM values must be (N, 2) rows of [rt, response], got {value.ndim}-D"
            )
        if self.outlier_rt_max is not None:
            *params, p = params
            return self._mixed(self._model_logp(value, *params), value, p)
        return self._model_logp(value, *params)

    def _model_logp(self, value: TensorVariable, *params: TensorVariable) -> TensorVariable:
        has_rt, groups = None, None
        if isinstance(value, TensorConstant):
            has_rt = ~np.isnan(value.data[:, 0])
            if self.likelihood.by_row:
                groups = trial_groups(params, has_rt.size)
        key = b"symbolic" if has_rt is None else has_rt.tobytes()
        key += b"" if groups is None else groups.tobytes()
        if key not in self.ops:  # one Op, and one compiled function, per row split
            self.ops[key] = LogLikeOp(
                trial_loglik(self.likelihood, has_rt, groups), data=(0,), name=self.spec.name
            )
        return self.ops[key](value, *params)

    def _mixed(self, loglik: TensorVariable, value: TensorVariable, p: TensorVariable):
        """Each trial's log-likelihood mixed with the contaminant process's: a uniform choice
        and, for a trial with an rt, a uniform rt on (0, outlier_rt_max)."""
        assert self.outlier_rt_max is not None
        rt = value[:, 0]
        log_uniform = -np.log(len(self.spec.choices)) - pt.switch(
            pt.isnan(rt), 0.0, np.log(self.outlier_rt_max)
        )
        possible = pt.isnan(rt) | ((rt > 0) & (rt <= self.outlier_rt_max))
        contaminant = pt.switch(possible, log_uniform, -np.inf)
        return logaddexp(pt.log1p(-p) + loglik, pt.log(p) + contaminant)

    def random(
        self, *params: np.ndarray, rng: np.random.Generator, size: tuple[int, ...] | None
    ) -> np.ndarray:
        """Trials from the model's simulator: (*size, 2) rows of [rt, response]; an omitted
        trial is [NaN, `ssmhub.simulator.OMITTED`]. With contaminants, each trial is one with
        probability p_outlier."""
        if self.outlier_rt_max is not None:
            *params, p = params
            out = self._simulate(*params, rng=rng, size=size)
            swap = rng.random(out.shape[:-1]) < np.broadcast_to(p, out.shape[:-1])
            out[swap, 0] = rng.uniform(0.0, self.outlier_rt_max, swap.sum())
            out[swap, 1] = rng.choice(np.asarray(self.spec.choices), swap.sum())
            return out
        return self._simulate(*params, rng=rng, size=size)

    def _simulate(
        self, *params: np.ndarray, rng: np.random.Generator, size: tuple[int, ...] | None
    ) -> np.ndarray:
        batch = tuple(size) if size is not None else np.broadcast_shapes(*map(np.shape, params))
        theta = {
            name: np.broadcast_to(np.asarray(p, dtype=np.float64), batch).ravel()
            for name, p in zip(self.spec.parameter_names, params, strict=True)
        }
        out = np.empty((*batch, 2), dtype=config.floatX)
        if out.size:
            rt, response = marked(self.simulator(theta, 1, int(rng.integers(2**31))))
            out[...] = np.stack([rt[:, 0], response[:, 0]], axis=-1).reshape(out.shape)
        return out


def trial_loglik(
    likelihood: Likelihood, has_rt: np.ndarray | None, groups: np.ndarray | None = None
) -> Callable[..., Array]:
    """A JAX function ``(value, *params) -> (N,)``; ``params`` are scalars or length-N.

    With ``has_rt`` known (observed data), only the rows with an rt go through ``logp_rt``
    and only the others through ``logp_choice``; without it both are evaluated on every
    row and the NaN rts pick the choice likelihood. ``groups`` (for a ``by_row``
    likelihood) gives the trials that share their parameters (`ssmhub.trial_groups`).
    """

    def score(fn: Callable[..., Array], params: Sequence[Array], index: Any, *data: Array) -> Array:
        rows, row = _rows(params, data[0].shape[0], index, groups)
        return fn(rows, *data) if row is None else fn(rows, *data, row)

    if has_rt is None:

        def loglik(value: Array, *params: Array) -> Array:
            rt, response = value[:, 0], value[:, 1]
            with_rt = score(likelihood.logp_rt, params, None, rt, response)
            if likelihood.logp_choice is None:
                return jnp.where(jnp.isnan(rt), jnp.nan, with_rt)
            by_choice = score(likelihood.logp_choice, params, None, response)
            return jnp.where(jnp.isnan(rt), by_choice, with_rt)

        return loglik

    rt_rows, choice_rows = np.flatnonzero(has_rt), np.flatnonzero(~has_rt)
    order = np.argsort(np.concatenate([rt_rows, choice_rows]))

    def loglik(value: Array, *params: Array) -> Array:
        value = jnp.asarray(value)
        if not choice_rows.size:
            return score(likelihood.logp_rt, params, None, value[:, 0], value[:, 1])
        parts = []
        if rt_rows.size:
            rt_value = value[rt_rows]
            parts.append(score(likelihood.logp_rt, params, rt_rows, rt_value[:, 0], rt_value[:, 1]))
        parts.append(score(likelihood.logp_choice, params, choice_rows, value[choice_rows, 1]))
        return jnp.concatenate(parts)[order]

    return loglik


def _rows(
    params: Sequence[Array], size: int, index: np.ndarray | None, groups: np.ndarray | None
) -> tuple[Array, np.ndarray | None]:
    """The parameter rows of the ``size`` trials at ``index`` (None: every trial), and each
    trial's row (None: row n is trial n's, or one row serves all).

    One (1, P) row when every parameter is a scalar (the `Likelihood` contract allows it);
    with ``groups``, one row per group among those trials.
    """
    params = [jnp.asarray(p) for p in params]
    if all(p.size == 1 for p in params):  # PyMC may hand a scalar over shaped (1,)
        return jnp.stack([p.reshape(()) for p in params])[None, :], None
    pick, row = index, None
    if groups is not None:
        _, first, row = np.unique(
            groups if index is None else groups[index], return_index=True, return_inverse=True
        )
        pick = first if index is None else index[first]
        size = pick.size
    columns = []
    for p in params:
        if p.size == 1:
            p = p.reshape(())
        elif pick is not None:
            p = p[pick]
        columns.append(jnp.broadcast_to(p, (size,)))
    return jnp.stack(columns, axis=-1), row


def _check_names(spec: ModelSpec, params: Mapping[str, Any]) -> None:
    names = spec.parameter_names
    unknown = [k for k in params if k not in names]
    missing = [n for n in names if n not in params]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown parameter(s) {', '.join(map(repr, unknown))}")
        if missing:
            problems.append(f"missing parameter(s) {', '.join(map(repr, missing))}")
        raise ThetaError(
            f"model {spec.name!r}: {'; '.join(problems)}; it takes {', '.join(names)}, "
            "each a number, a PyMC variable or one value per trial"
        )


def _length(x: TensorVariable) -> int | None:
    """The static length of a trial-wise parameter, if PyTensor can tell."""
    if x.ndim == 0:
        return None
    _, shape = infer_static_shape(x.shape)
    return None if shape[0] is None else int(shape[0])


def _warn_outside_box(
    model: pm.Model, tensors: Mapping[str, TensorVariable], box: Box, what: str
) -> None:
    """Warn for each prior that reaches outside the box, where the likelihood is -inf.

    A free variable's support is checked at the box's edges (its logp just outside them);
    an expression of variables is checked on prior draws.
    """
    for name, x in tensors.items():
        if not _depends_on_free_rvs(model, x):
            continue
        lo, hi = box[name]
        if x in model.free_RVs:
            eps = 1e-6 * (hi - lo)
            shape = tuple(x.shape.eval())
            edges = [
                pm.logp(x, np.full(shape, v, dtype=x.dtype), warn_rvs=False)
                for v in (lo - eps, hi + eps)
            ]
            logps = pm.draw(edges, random_seed=0, mode="FAST_COMPILE")
            reaches = any(np.isfinite(e).any() for e in logps)
        else:
            draws = pm.draw(x, draws=500, random_seed=0, mode="FAST_COMPILE")
            reaches = bool(((draws < lo) | (draws > hi)).any())
        if reaches:
            warnings.warn(
                f"the prior of parameter {name!r} ({x.name or 'an expression'}) reaches "
                f"outside [{lo:g}, {hi:g}], the training box of the {what}, where the "
                "likelihood is -inf; narrow the prior, or pass extrapolate=True to use the "
                "networks outside their box",
                OutsideTrainingBoxWarning,
                stacklevel=3,
            )


def _depends_on_free_rvs(model: pm.Model, x: TensorVariable) -> bool:
    free = set(model.free_RVs)
    return any(v in free for v in ancestors([x]))


def provenance(model: pm.Model | None = None) -> dict[str, Any]:
    """What made this model's likelihoods: per `SSM` variable, the model, the likelihood and
    each network (its source directory and weights' sha256), with ssmhub's version. Fits
    store it as JSON in ``idata.attrs["ssmhub"]`` (`ssmhub.fitting.draw_posterior`)."""
    from importlib.metadata import version

    model = pm.modelcontext(model)
    return {
        "ssmhub_version": version("ssmhub"),
        "observed": [
            rv.tag.ssmhub_provenance
            for rv in model.observed_RVs
            if hasattr(rv.tag, "ssmhub_provenance")
        ],
    }


def initvals(model: pm.Model | None = None) -> dict[str, np.ndarray]:
    """Starting values that keep each SSM's non-decision time below its fastest rt, for
    ``pm.sample``.

    A model whose ``t`` prior is centred at or above the fastest rt starts where trials are
    impossible; ``pm.sample()`` leaves down the guard's slope (`ssmhub.ops.guard`), and
    ``pm.sample(initvals=ssmhub.pymc.initvals())`` starts below instead, sparing warm-up
    steps. Empty when the priors' own starting points will do. (A model-level initval would
    do the same, but PyMC's ``compute_log_likelihood`` refuses models that have one.)
    """
    model = pm.modelcontext(model)
    fastest: dict[TensorVariable, float] = {}
    for rv in model.observed_RVs:
        if hasattr(rv.tag, "ssmhub_t"):
            t, rt = rv.tag.ssmhub_t
            fastest[t] = min(rt, fastest.get(t, np.inf))
    out = {}
    for t, rt in fastest.items():
        start = _start(model, t)
        if np.all(start < rt) or t not in model.free_RVs:
            continue
        for fraction in (0.5, 0.1, 0.01):  # half the fastest rt, unless the prior forbids it
            candidate = np.full(start.shape, fraction * rt, dtype=t.dtype)
            logp = pm.logp(t, candidate, warn_rvs=False)
            if np.isfinite(pm.draw(logp, random_seed=0, mode="FAST_COMPILE")).all():
                out[t.name] = candidate
                break
    return out


def _start(model: pm.Model, t: TensorVariable) -> np.ndarray:
    """The value of ``t`` at the model's initial point."""
    (expr,) = model.replace_rvs_by_values([t])
    fn = model.compile_fn(
        expr, inputs=model.value_vars, on_unused_input="ignore", mode="FAST_COMPILE"
    )
    return np.asarray(fn(model.initial_point()))


def _check_t_start(
    model: pm.Model, rv: TensorVariable, name: str, t: TensorVariable, rt: np.ndarray
) -> None:
    """Refuse a fixed non-decision time ``t`` (the parameter ``name``) at or above an observed
    rt; for a free one, record ``t`` and the fastest rt on ``rv`` for `initvals`."""
    rts = rt[~np.isnan(rt)]
    if not rts.size:
        return
    if isinstance(t, TensorConstant):
        values = np.broadcast_to(t.data, rt.shape)
        bad = np.flatnonzero(values >= rt)  # NaN rts compare False
        if bad.size:
            row = int(bad[0])
            raise ThetaError(
                f"{name} = {values[row]:g} is not below the rt {rt[row]:g} at "
                f"{where('rt', row)}: "
                f"that trial is impossible under the model ({name} is its non-decision time)"
            )
        return
    if not _depends_on_free_rvs(model, t):
        return
    rv.tag.ssmhub_t = (t, float(rts.min()))
