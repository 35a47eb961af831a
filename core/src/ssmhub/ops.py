"""Per-trial JAX log-likelihoods as PyTensor Ops, and the guards every likelihood gets.

`LogLikeOp` wraps a JAX function ``f(*inputs) -> (N,)``; its gradient is a second Op,
`LogLikeVJPOp`, that runs ``jax.vjp``. Both are PyTensor ``JAXOp``s, so a JAX backend
(``pm.sample(nuts_sampler="numpyro" | "blackjax")``) compiles the model, the network and its
gradient into one XLA program through their ``perform_jax``; the C and Python backends call
the jitted functions from ``perform``, in the precision of the node's output.

Being ``JAXOp``s, rather than registering with ``jax_funcify``, is what keeps importing this
module free of side effects: importing PyTensor's JAX dispatch switches ``jax_enable_x64`` for
the whole process, and happens only when a model is compiled for a JAX backend.

`guard` wraps a `Likelihood` with the checks that do not depend on how it was built: a
trial with ``rt <= t`` has density 0, and a network knows nothing outside its training box.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytensor.tensor as pt
from pytensor import config
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.link.jax.ops import JAXOp
from pytensor.scalar import upcast
from pytensor.tensor.type import TensorType, discrete_dtypes, float_dtypes

from ssmhub.likelihood import Array, Likelihood
from ssmhub.spec import ModelSpec

__all__ = ["LogLikeOp", "LogLikeVJPOp", "guard"]


def _precision(dtype: str) -> contextlib.AbstractContextManager[None]:
    """JAX's precision for computing an output of ``dtype``, whatever the process's setting."""
    return jax.enable_x64(dtype == "float64")


class _JAXBackendOp(JAXOp):
    """An Op that PyTensor's JAX backend compiles by calling ``perform_jax``.

    ``JAXOp`` is the base only for that dispatch. What it specialises for a function with
    fixed input and output types (a constructor that jits at once, which would not pickle
    into PyMC's chain processes; its gradient and connections) goes back to ``Op``'s.
    """

    __init__ = Op.__init__
    __repr__ = Op.__repr__
    pullback = Op.pullback

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[True] * len(node.outputs) for _ in node.inputs]


class LogLikeOp(_JAXBackendOp):
    """Per-trial log-likelihoods ``fn(*inputs) -> (N,)`` of a JAX function.

    Inputs listed in ``data`` (the observations) and integer inputs get no gradient. The
    output dtype is the widest floating dtype of the inputs (``floatX`` if none): a network
    may compute in float32 inside ``fn``, and the sampler still sees the model's precision.
    """

    __props__ = ("fn", "data")

    def __init__(self, fn: Callable[..., Array], data: Sequence[int] = (), name: str = "") -> None:
        self.fn = fn
        self.data = tuple(data)
        self.name = name or getattr(fn, "__name__", "loglike")
        self._jitted: Callable[..., Array] | None = None
        self._vjps: dict[tuple[int, ...], LogLikeVJPOp] = {}
        super().__init__()

    def __getstate__(self) -> dict[str, Any]:
        # Compiled functions stay behind: PyMC pickles the model into its chain processes.
        return {**self.__dict__, "_jitted": None, "_vjps": {}}

    def __str__(self) -> str:
        return f"LogLikeOp{{{self.name}}}"

    def make_node(self, *inputs: Any) -> Apply:
        _register_with_numba()
        tensors = [pt.as_tensor_variable(x) for x in inputs]
        floats = [x.dtype for x in tensors if x.dtype in float_dtypes]
        dtype = upcast(*floats) if floats else config.floatX
        return Apply(self, tensors, [TensorType(dtype, shape=(None,))()])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray], outputs: list[list]) -> None:
        if self._jitted is None:
            self._jitted = jax.jit(self.fn)
        dtype = node.outputs[0].dtype
        with _precision(dtype):
            outputs[0][0] = np.asarray(self._jitted(*inputs), dtype=dtype)

    def perform_jax(self, *inputs: Array) -> Array:
        dtypes = [jnp.asarray(x).dtype for x in inputs]
        floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)]
        return self.fn(*inputs).astype(jnp.result_type(*floats) if floats else config.floatX)

    def _wrt(self, inputs: Sequence[Variable]) -> tuple[int, ...]:
        """The inputs that get a gradient: not data, not integers."""
        return tuple(
            i for i, x in enumerate(inputs) if i not in self.data and x.dtype not in discrete_dtypes
        )

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        wrt = self._wrt(node.inputs)
        return [[i in wrt] for i in range(len(node.inputs))]

    def pullback(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        cotangents: Sequence[Variable],
    ) -> list[Variable]:
        wrt = self._wrt(inputs)
        if isinstance(cotangents[0].type, DisconnectedType) or not wrt:
            return [DisconnectedType()() for _ in inputs]
        if wrt not in self._vjps:  # one VJP Op per wrt, so its jitted function is reused
            self._vjps[wrt] = LogLikeVJPOp(self.fn, wrt, self.name)
        grads = self._vjps[wrt](*inputs, cotangents[0], return_list=True)
        by_input = dict(zip(wrt, grads, strict=True))
        return [by_input.get(i, DisconnectedType()()) for i in range(len(inputs))]


class LogLikeVJPOp(_JAXBackendOp):
    """The vector-Jacobian product of a `LogLikeOp`: cotangents of the inputs in ``wrt``."""

    __props__ = ("fn", "wrt")

    def __init__(self, fn: Callable[..., Array], wrt: tuple[int, ...], name: str = "") -> None:
        self.fn = fn
        self.wrt = wrt
        self.name = name
        self._jitted: Callable[..., tuple[Array, ...]] | None = None
        super().__init__()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_jitted": None}

    def __str__(self) -> str:
        return f"LogLikeVJPOp{{{self.name}}}"

    def make_node(self, *inputs: Any) -> Apply:
        _register_with_numba()
        tensors = [pt.as_tensor_variable(x) for x in inputs]
        return Apply(self, tensors, [tensors[i].type() for i in self.wrt])

    def vjp(self, *args: Array) -> tuple[Array, ...]:
        """Cotangents of ``inputs[wrt]`` given ``(*inputs, cotangent)``; a pure JAX function."""
        *inputs, cotangent = args

        def of_wrt(*values: Array) -> Array:
            full = list(inputs)
            for i, value in zip(self.wrt, values, strict=True):
                full[i] = value
            return self.fn(*full)

        primals = [jnp.asarray(inputs[i]) for i in self.wrt]
        out, pull = jax.vjp(of_wrt, *primals)
        grads = pull(jnp.asarray(cotangent).astype(out.dtype))
        return tuple(g.astype(p.dtype) for g, p in zip(grads, primals, strict=True))

    def perform(self, node: Apply, inputs: Sequence[np.ndarray], outputs: list[list]) -> None:
        if self._jitted is None:
            self._jitted = jax.jit(self.vjp)
        with _precision(upcast(*(var.dtype for var in node.outputs))):
            grads = self._jitted(*inputs)
        for out, grad, var in zip(outputs, grads, node.outputs, strict=True):
            out[0] = np.asarray(grad, dtype=var.dtype)

    def perform_jax(self, *args: Array) -> Array | tuple[Array, ...]:
        grads = self.vjp(*args)
        return grads[0] if len(grads) == 1 else grads


def _numba_funcify(op: Op, node: Apply, **kwargs: Any) -> Callable:
    """Numba calls ``perform`` in object mode, which is right here: JAX does the work."""
    from pytensor.link.numba.dispatch.basic import generate_fallback_impl

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Numba will use object mode", UserWarning)
        return generate_fallback_impl(op, node, **kwargs)


@functools.cache
def _register_with_numba() -> None:
    """Tell PyMC's default backend, numba, how to run the Ops, once the first node is made.

    Not on import: importing PyTensor's numba dispatch adds warning filters to the process.
    """
    try:
        from pytensor.link.numba.dispatch import numba_funcify
    except ImportError:  # without numba installed, there is nothing to register
        return
    numba_funcify.register(LogLikeOp)(_numba_funcify)
    numba_funcify.register(LogLikeVJPOp)(_numba_funcify)


IMPOSSIBLE = -1e10  # nats: e^-1e10 is 0 in any float, whatever the other trials give
IMPOSSIBLE_SLOPE = 1e3  # nats per second of t - rt: the way back to possible trials


def guard(
    likelihood: Likelihood, spec: ModelSpec, box: Mapping[str, tuple[float, float]] | None
) -> Likelihood:
    """``likelihood`` guarded where the model or the network cannot be trusted.

    A trial with ``rt <= t`` (``t`` the spec's `ModelSpec.non_decision_time`, if any) is
    impossible, whatever a network says. It scores `IMPOSSIBLE` (less a slope of
    `IMPOSSIBLE_SLOPE` per second of ``t - rt``), not ``-inf``: against any possible
    trial's value that is a probability of exactly zero in floating point, so posteriors are
    unchanged, but a sampler started where ``t`` is too large can leave, down the slope
    (``pm.sample()`` needs no starting values). A floor a likelihood could beat (HSSM's
    -66) would instead make a large ``t`` look plausible.
    Parameter rows outside ``box`` (None: no box) are ``-inf``. Guarded rows are
    evaluated at a stand-in point inside the box and masked afterwards (the double
    ``where``), so gradients stay finite there. ``params`` keeps its shape throughout: one
    row shared by all trials stays one row, and a ``row`` argument (`Likelihood.by_row`)
    is passed on.
    """
    names = spec.parameter_names
    box = box or {}
    lower = np.array([box.get(n, (-np.inf, np.inf))[0] for n in names])
    upper = np.array([box.get(n, (-np.inf, np.inf))[1] for n in names])
    stand_in = np.array(
        [(box[n][0] + box[n][1]) / 2 if n in box else spec.parameter(n).default for n in names]
    )
    ndt = spec.non_decision_time
    t = names.index(ndt) if ndt is not None else None

    def in_box(params: Array) -> Array:
        return jnp.all((params >= lower) & (params <= upper), axis=-1)

    def safe(params: Array) -> tuple[Array, Array]:
        """Rows in the box, the others replaced by the stand-in; kept at their own shape."""
        ok = in_box(params)
        return ok, jnp.where(ok[..., None], params, stand_in.astype(params.dtype))

    def logp_rt(params: Array, rt: Array, response: Array, *row: Array) -> Array:
        ok, params = safe(params)
        t_of = params[..., t] if t is not None else jnp.zeros(params.shape[:-1], params.dtype)
        if row:
            ok, t_of = ok[row[0]], t_of[row[0]]
        possible = rt > t_of
        safe_rt = jnp.where(ok & possible, rt, t_of + 1.0)
        value = likelihood.logp_rt(params, safe_rt, response, *row)
        impossible = IMPOSSIBLE - IMPOSSIBLE_SLOPE * (t_of - rt)
        return jnp.where(ok, jnp.where(possible, value, impossible.astype(value.dtype)), -jnp.inf)

    def logp_choice(params: Array, response: Array, *row: Array) -> Array:
        assert likelihood.logp_choice is not None
        ok, params = safe(params)
        if row:
            ok = ok[row[0]]
        return jnp.where(ok, likelihood.logp_choice(params, response, *row), -jnp.inf)

    return likelihood._replace(
        logp_rt=logp_rt,
        logp_choice=logp_choice if likelihood.logp_choice is not None else None,
    )
