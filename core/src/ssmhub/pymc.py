"""Sequential sampling models as PyMC distributions: `SSM`.

``SSM("y", model="ddm", likelihood="lan", observed=data, v=v, a=a, z=0.5, t=t)`` adds the
trials of one model to a PyMC model. The likelihood comes from a builder registered with
the ``register_likelihoods`` hook (``lan``: trained networks; ``exact``: the ddm's closed
form), is guarded by `ssmhub.ops.guard` and wrapped in one `ssmhub.ops.LogLikeOp`, so the
PyMC, numpyro and blackjax samplers all run it; draws come from the model's simulator.

Observed rows with an rt are scored by ``logp_rt``, rows with a NaN rt by ``logp_choice``;
the rows are split once, when the graph is built, and the log-likelihood keeps one entry per
observed row (for ``pm.compute_log_likelihood`` and ``arviz.loo``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pytensor import config
from pytensor.graph.traversal import ancestors
from pytensor.tensor.basic import infer_static_shape
from pytensor.tensor.type import float_dtypes
from pytensor.tensor.variable import TensorConstant, TensorVariable

from ssmhub.errors import SsmhubError, ThetaError
from ssmhub.likelihood import Array, Likelihood
from ssmhub.observed import ObservedDataError, check_observed
from ssmhub.ops import LogLikeOp, guard
from ssmhub.plugins import get_manager
from ssmhub.simulation import Simulator
from ssmhub.spec import ModelSpec

__all__ = ["SSM", "OutsideTrainingBoxWarning", "StartingPointWarning"]

Box = dict[str, tuple[float, float]]


class OutsideTrainingBoxWarning(UserWarning):
    """A prior reaches where the network was not trained: the likelihood is -inf there."""


class StartingPointWarning(UserWarning):
    """The model would start where the observed trials are impossible (t >= an rt)."""


class SSM:
    """A sequential sampling model's trials as a PyMC distribution.

    Every parameter of the model is given, as a number, a PyMC variable, or a length-N
    tensor (one value per trial). ``observed`` is an (N, 2) array of ``[rt, response]`` rows
    or a DataFrame with those columns; a NaN rt is a response without a reaction time. With
    a network likelihood, parameters outside the networks' training box get -inf unless
    ``extrapolate=True``; priors reaching outside it give an `OutsideTrainingBoxWarning`.
    """

    def __new__(
        cls,
        name: str,
        model: str = "ddm",
        likelihood: str = "lan",
        *,
        observed: Any = None,
        extrapolate: bool = False,
        dims: Any = None,
        shape: Any = None,
        **params: Any,
    ) -> TensorVariable:
        dist = _Distribution.create(model, likelihood, extrapolate, params)
        tensors = dist.tensors(params)
        data = None if observed is None else dist.check(observed, tensors)
        rv = pm.CustomDist(
            name,
            *tensors.values(),
            **dist.custom_dist_kwargs(),
            # A constant, not an array: PyMC would take NaN rts for values to impute.
            observed=None if data is None else pt.constant(data.astype(config.floatX)),
            dims=dims,
            shape=shape,
        )
        pm_model = pm.modelcontext(None)
        if dist.box is not None:
            _warn_outside_box(pm_model, tensors, dist.box, f"{likelihood!r} likelihood")
        if data is not None and "t" in tensors:
            _start_t_below(pm_model, tensors["t"], data[:, 0])
        return rv

    @classmethod
    def dist(
        cls,
        model: str = "ddm",
        likelihood: str = "lan",
        *,
        extrapolate: bool = False,
        shape: Any = None,
        size: Any = None,
        **params: Any,
    ) -> TensorVariable:
        """The distribution outside a model (for ``pm.logp``, ``pm.draw``)."""
        dist = _Distribution.create(model, likelihood, extrapolate, params)
        return pm.CustomDist.dist(
            *dist.tensors(params).values(), **dist.custom_dist_kwargs(), shape=shape, size=size
        )


@dataclass
class _Distribution:
    """One model with one likelihood: the logp and random functions CustomDist calls."""

    spec: ModelSpec
    likelihood: Likelihood  # guarded
    box: Box | None  # parameters outside it get -inf; None: no box (or extrapolate=True)
    simulator: Simulator
    ops: dict[bytes, LogLikeOp] = field(default_factory=dict)

    @classmethod
    def create(
        cls, model: str, likelihood: str, extrapolate: bool, params: Mapping[str, Any]
    ) -> _Distribution:
        manager = get_manager()
        spec = manager.catalog.get(model)
        _check_names(spec, params)
        builders = {b.name: b for b in manager.likelihoods() if b.supports(spec)}
        if likelihood not in builders:
            available = ", ".join(map(repr, sorted(builders))) or (
                "none (train a network with `ssmhub generate` and `ssmhub train`)"
            )
            raise SsmhubError(
                f"no likelihood {likelihood!r} for model {model!r}; available: {available}"
            )
        builder = builders[likelihood]
        # A builder of networks tells where they were trained (an optional method).
        box = None if extrapolate else getattr(builder, "training_box", lambda _: None)(spec)
        return cls(spec, guard(builder.build(spec), spec, box), box, manager.simulator(spec))

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

    def custom_dist_kwargs(self) -> dict[str, Any]:
        n = len(self.spec.parameters)
        return {
            "logp": self.logp,
            "random": self.random,
            "signature": ",".join(["()"] * n) + "->(2)",
            "class_name": f"SSM_{self.spec.name}",
        }

    def check(self, observed: Any, tensors: Mapping[str, TensorVariable]) -> np.ndarray:
        """Validate the observed trials against the model and the trial-wise parameters."""
        lengths = {name: _length(x) for name, x in tensors.items()}
        data = check_observed(
            observed,
            self.spec.choices,
            {name: n for name, n in lengths.items() if n is not None and n > 1},
        )
        no_rt = np.isnan(data[:, 0])
        if no_rt.any() and self.likelihood.logp_choice is None:
            raise ObservedDataError(
                f"column 'rt', row {int(np.argmax(no_rt))}: a trial without an rt needs a "
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
        has_rt = ~np.isnan(value.data[:, 0]) if isinstance(value, TensorConstant) else None
        key = b"symbolic" if has_rt is None else has_rt.tobytes()
        if key not in self.ops:  # one Op, and one compiled function, per row split
            self.ops[key] = LogLikeOp(
                trial_loglik(self.likelihood, has_rt), data=(0,), name=self.spec.name
            )
        return self.ops[key](value, *params)

    def random(
        self, *params: np.ndarray, rng: np.random.Generator, size: tuple[int, ...] | None
    ) -> np.ndarray:
        """Trials from the model's simulator: (*size, 2) rows of [rt, response]."""
        batch = tuple(size) if size is not None else np.broadcast_shapes(*map(np.shape, params))
        theta = {
            name: np.broadcast_to(np.asarray(p, dtype=np.float64), batch).ravel()
            for name, p in zip(self.spec.parameter_names, params, strict=True)
        }
        out = np.empty((*batch, 2), dtype=config.floatX)
        if out.size:
            sim = self.simulator(theta, 1, int(rng.integers(2**31)))
            out[...] = np.stack([sim.rt[:, 0], sim.response[:, 0]], axis=-1).reshape(out.shape)
        return out


def trial_loglik(likelihood: Likelihood, has_rt: np.ndarray | None) -> Callable[..., Array]:
    """A JAX function ``(value, *params) -> (N,)``; ``params`` are scalars or length-N.

    With ``has_rt`` known (observed data), only the rows with an rt go through ``logp_rt``
    and only the others through ``logp_choice``; without it both are evaluated on every
    row and the NaN rts pick the choice likelihood.
    """
    if has_rt is None:

        def loglik(value: Array, *params: Array) -> Array:
            rt, response = value[:, 0], value[:, 1]
            rows = _rows(params, rt.shape[0], None)
            with_rt = likelihood.logp_rt(rows, rt, response)
            if likelihood.logp_choice is None:
                return jnp.where(jnp.isnan(rt), jnp.nan, with_rt)
            return jnp.where(jnp.isnan(rt), likelihood.logp_choice(rows, response), with_rt)

        return loglik

    rt_rows, choice_rows = np.flatnonzero(has_rt), np.flatnonzero(~has_rt)
    order = np.argsort(np.concatenate([rt_rows, choice_rows]))

    def loglik(value: Array, *params: Array) -> Array:
        value = jnp.asarray(value)
        if not choice_rows.size:
            return likelihood.logp_rt(_rows(params, value.shape[0], None), value[:, 0], value[:, 1])
        parts = []
        if rt_rows.size:
            rt_value = value[rt_rows]
            parts.append(
                likelihood.logp_rt(_rows(params, 0, rt_rows), rt_value[:, 0], rt_value[:, 1])
            )
        parts.append(likelihood.logp_choice(_rows(params, 0, choice_rows), value[choice_rows, 1]))
        return jnp.concatenate(parts)[order]

    return loglik


def _rows(params: Sequence[Array], n: int, index: np.ndarray | None) -> Array:
    """(rows, P) parameter rows: scalars broadcast, trial-wise values picked at ``index``."""
    size = n if index is None else index.size
    columns = []
    for p in map(jnp.asarray, params):
        if p.ndim and index is not None:
            p = p[index]
        columns.append(jnp.broadcast_to(p, (size,)))
    return jnp.stack(columns, axis=-1)


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
            reaches = any(np.isfinite(e).any() for e in pm.draw(edges, random_seed=0))
        else:
            draws = pm.draw(x, draws=500, random_seed=0)
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


def _start_t_below(model: pm.Model, t: TensorVariable, rt: np.ndarray) -> None:
    """Make the model start with ``t`` below the fastest rt, where the likelihood is finite.

    A fixed ``t`` at or above an observed rt is an error (those trials are impossible). A
    free ``t`` whose default start (its prior's support point) is not well below the
    fastest rt starts at a quarter of it instead, if the user set no initval and the prior
    allows it, so that jittered starts stay below too; otherwise a `StartingPointWarning`.
    """
    rts = rt[~np.isnan(rt)]
    if not rts.size:
        return
    fastest = float(rts.min())
    if isinstance(t, TensorConstant):
        values = np.broadcast_to(t.data, rt.shape)
        bad = np.flatnonzero(values >= rt)  # NaN rts compare False
        if bad.size:
            row = int(bad[0])
            raise ThetaError(
                f"t = {values[row]:g} is not below the rt {rt[row]:g} of row {row}: that "
                "trial is impossible under the model"
            )
        return
    if not _depends_on_free_rvs(model, t):
        return
    (start_expr,) = model.replace_rvs_by_values([t])
    start_fn = model.compile_fn(start_expr, inputs=model.value_vars, on_unused_input="ignore")
    start = np.asarray(start_fn(model.initial_point()))
    if np.all(start < 0.5 * fastest):
        return
    if t in model.free_RVs and model.rvs_to_initial_values.get(t) is None:
        for fraction in (0.25, 0.1, 0.01):
            candidate = np.full(start.shape, fraction * fastest, dtype=t.dtype)
            if np.isfinite(pm.draw(pm.logp(t, candidate, warn_rvs=False), random_seed=0)).all():
                model.set_initval(t, candidate)
                return
    if np.any(start >= fastest):
        warnings.warn(
            f"the model starts at t = {start.max():g}, not below the fastest rt {fastest:g}, "
            "where the likelihood is -inf; give t an initval below it",
            StartingPointWarning,
            stacklevel=3,
        )


def _blackjax_inference_loop(
    seed: Array,
    init_position: Any,
    logp_fn: Callable,
    draws: int,
    tune: int,
    target_accept: float,
    **adaptation_kwargs: Any,
) -> tuple[Any, dict[str, Array]]:
    """pymc's blackjax loop for blackjax >= 1.6 (pymc issue 8367), without a progress bar.

    pymc 6.4 hands ``progress_bar`` to ``blackjax.window_adaptation``, which since blackjax
    1.6 forwards unknown arguments to the NUTS kernel (``TypeError: ... unexpected keyword
    argument 'progress_bar'``), and then calls ``blackjax.progress_bar.gen_scan_fn``, which
    blackjax 1.6 replaced by a context manager. This is pymc's loop with the argument
    dropped before the adaptation and a plain ``lax.scan``.
    """
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    adaptation_kwargs.pop("progress_bar", None)
    algorithm_name = adaptation_kwargs.pop("algorithm", "nuts")
    if algorithm_name not in ("nuts", "hmc"):
        raise ValueError("Only supporting 'nuts' or 'hmc' as algorithm to draw samples.")
    algorithm = getattr(blackjax, algorithm_name)
    adapt = blackjax.window_adaptation(
        algorithm=algorithm,
        logdensity_fn=logp_fn,
        target_acceptance_rate=target_accept,
        adaptation_info_fn=get_filter_adapt_info_fn(),
        **adaptation_kwargs,
    )
    (last_state, tuned_params), _ = adapt.run(seed, init_position, num_steps=tune)
    kernel = algorithm(logp_fn, **tuned_params).step

    def one_step(state: Any, key: Array) -> tuple[Any, tuple[Any, dict[str, Array]]]:
        state, info = kernel(key, state)
        stats = {
            "diverging": info.is_divergent,
            "energy": info.energy,
            "tree_depth": info.num_trajectory_expansions,
            "n_steps": info.num_integration_steps,
            "acceptance_rate": info.acceptance_rate,
            "lp": state.logdensity,
        }
        return state, (state.position, stats)

    _, (samples, stats) = jax.lax.scan(one_step, last_state, jax.random.split(seed, draws))
    return samples, stats


def _blackjax_compatibility() -> None:
    """Swap in `_blackjax_inference_loop` when blackjax has the API pymc 6.4 cannot use.

    Detected by what pymc's loop calls: ``blackjax.progress_bar.gen_scan_fn`` (gone in
    blackjax 1.6, where ``progress_bar`` became a function). Older blackjax, or a pymc
    without that loop, is left alone.
    """
    try:
        import blackjax
        import pymc.sampling.jax as pymc_jax
    except ImportError:
        return
    if hasattr(blackjax.progress_bar, "gen_scan_fn") or not hasattr(
        pymc_jax, "_blackjax_inference_loop"
    ):
        return
    pymc_jax._blackjax_inference_loop = _blackjax_inference_loop


_blackjax_compatibility()
