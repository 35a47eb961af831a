"""`ssmhub.ops`: the JAX-backed PyTensor Op, its gradient, its JAX dispatch and the guards.

The reference is the exact ddm likelihood (`ssmhub_ddm.exact`), evaluated by JAX directly;
gradients are checked against central finite differences in float64.
"""

from __future__ import annotations

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import DisconnectedInputError

from ssmhub.likelihood import Likelihood
from ssmhub.ops import IMPOSSIBLE, IMPOSSIBLE_SLOPE, LogLikeOp, guard
from ssmhub.plugins import get_model
from ssmhub.spec import ModelSpec
from ssmhub_ddm import exact

RNG = np.random.default_rng(0)
N = 40
# v, a, z, t of 40 trials, and rts above t
PARAMS = np.column_stack(
    [
        RNG.uniform(-2, 2, N),
        RNG.uniform(0.6, 2, N),
        RNG.uniform(0.3, 0.7, N),
        RNG.uniform(0.1, 0.4, N),
    ]
)
RT = PARAMS[:, 3] + RNG.uniform(0.05, 2.0, N)
RESPONSE = RNG.choice([-1.0, 1.0], N)


exact_logp = jax.jit(exact.logpdf)


def central_differences(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def test_value_and_gradient_match_jax_and_finite_differences():
    op = LogLikeOp(exact_logp, data=(1, 2))
    params = pt.matrix("params")
    out = op(params, RT, RESPONSE)
    assert out.dtype == "float64"
    value = pytensor.function([params], out)
    total = pytensor.function([params], out.sum())
    grad = pytensor.function([params], pytensor.grad(out.sum(), params))

    with jax.enable_x64(True):
        expected = np.asarray(exact.logpdf(PARAMS, RT, RESPONSE))
    np.testing.assert_allclose(value(PARAMS), expected, rtol=1e-12)
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(
        grad(PARAMS), central_differences(total, PARAMS), rtol=1e-5, atol=1e-6
    )


def test_the_op_compiles_into_one_jax_function_without_callbacks():
    op = LogLikeOp(exact_logp, data=(1, 2))
    params = pt.matrix("params")
    out = op(params, RT, RESPONSE)
    outputs = [out.sum(), pytensor.grad(out.sum(), params)]
    in_jax = pytensor.function([params], outputs, mode="JAX")
    default = pytensor.function([params], outputs)
    for got, want in zip(in_jax(PARAMS), default(PARAMS), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10)

    from pymc.sampling.jax import get_jaxified_graph

    jaxified = get_jaxified_graph(inputs=[params], outputs=outputs)
    jaxpr = str(jax.make_jaxpr(jaxified)(PARAMS))
    assert "callback" not in jaxpr


def test_data_and_integer_inputs_get_no_gradient():
    def f(x, data, k):
        return -((x - data) ** 2) * k

    op = LogLikeOp(f, data=(1,))
    x, data = pt.vector("x"), pt.vector("data")
    k = pt.lscalar("k")
    out = op(x, data, k).sum()
    assert op.connection_pattern(out.owner.inputs[0].owner) == [[True], [False], [False]]
    g = pytensor.function([x, data, k], pytensor.grad(out, x))
    np.testing.assert_allclose(g([1.0, 2.0], [0.0, 0.0], 3), [-6.0, -12.0])
    with pytest.raises(DisconnectedInputError):
        pytensor.grad(out, data)


def test_float32_inputs_give_float32_output_and_gradient():
    op = LogLikeOp(exact_logp, data=(1, 2))
    params = pt.matrix("params", dtype="float32")
    out = op(params, RT.astype(np.float32), RESPONSE.astype(np.float32))
    assert out.dtype == "float32"
    f = pytensor.function([params], [out, pytensor.grad(out.sum(), params)])
    value, grad = f(PARAMS.astype(np.float32))
    assert value.dtype == np.float32
    assert grad.dtype == np.float32
    with jax.enable_x64(True):
        expected = np.asarray(exact.logpdf(PARAMS, RT, RESPONSE))
    np.testing.assert_allclose(value, expected, rtol=1e-3, atol=1e-3)


def test_the_op_survives_pickling_for_pymc_chain_processes():
    op = LogLikeOp(exact_logp, data=(1, 2))
    params = pt.matrix("params")
    f = pytensor.function([params], op(params, RT, RESPONSE))
    before = f(PARAMS)
    restored = cloudpickle.loads(cloudpickle.dumps(f))
    np.testing.assert_array_equal(restored(PARAMS), before)


# --- guards ----------------------------------------------------------------------------------


@jax.jit
def floored_network(params, rt, response):
    """A stand-in for a LAN: finite everywhere, with a floor where the density is 0."""
    return jnp.maximum(exact.logpdf(params, rt, response), -66.0)


choice = jax.jit(exact.log_choice_probability)


@pytest.fixture
def ddm():
    return get_model("ddm")


def test_rt_at_or_below_t_is_impossible_whatever_the_network_says(ddm):
    """Probability zero in floating point, with a slope down t back to possible trials."""
    guarded = guard(Likelihood(floored_network, choice), ddm, None)
    params = jnp.array([[1.0, 1.0, 0.5, 0.5]] * 3, dtype=jnp.float64)
    rt, response = jnp.array([0.4, 0.5, 0.9], dtype=jnp.float64), jnp.ones(3)
    assert np.isfinite(floored_network(params, rt, response)).all()  # the trap
    logp = np.asarray(guarded.logp_rt(params, rt, response))
    np.testing.assert_allclose(logp[:2], [IMPOSSIBLE - IMPOSSIBLE_SLOPE * 0.1, IMPOSSIBLE])
    assert np.exp(logp[:2] - logp[2]).max() == 0.0  # against a possible trial: nothing
    assert np.isfinite(logp[2])
    grad = np.asarray(jax.grad(lambda p: guarded.logp_rt(p, rt, response).sum())(params))
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[:2, :3], 0.0)
    np.testing.assert_array_equal(grad[:2, 3], -IMPOSSIBLE_SLOPE)  # lower t: more possible
    assert grad[2, 3] != 0.0


def ddm_naming_t(ddm, name: str, non_decision_time: str | None) -> ModelSpec:
    """The ddm with its fourth parameter called ``name``, declared as ``non_decision_time``."""
    parameters = (*ddm.parameters[:3], ddm.parameters[3].model_copy(update={"name": name}))
    return ModelSpec(
        **{
            **ddm.model_dump(),
            "parameters": parameters,
            "non_decision_time": non_decision_time,
        }
    )


def test_a_non_decision_time_named_ndt_keeps_the_rt_guard(ddm):
    spec = ddm_naming_t(ddm, "ndt", "ndt")
    guarded = guard(Likelihood(floored_network, choice), spec, None)
    params = jnp.array([[1.0, 1.0, 0.5, 0.5]] * 3)
    rt, response = jnp.array([0.4, 0.5, 0.9]), jnp.ones(3)
    logp = np.asarray(guarded.logp_rt(params, rt, response))
    assert (logp[:2] <= IMPOSSIBLE).all()
    assert logp[2] > IMPOSSIBLE / 2


def test_a_parameter_named_t_is_not_taken_for_a_non_decision_time(ddm):
    spec = ddm_naming_t(ddm, "t", None)  # the spec says the model has none
    guarded = guard(Likelihood(floored_network, choice), spec, None)
    params = jnp.array([[1.0, 1.0, 0.5, 0.5]])
    logp = np.asarray(guarded.logp_rt(params, jnp.array([0.4]), jnp.ones(1)))
    np.testing.assert_array_equal(logp, [-66.0])  # the network's floor, not the guard's


def test_outside_the_training_box_is_minus_inf_with_finite_gradient(ddm):
    box = {"v": (-2.0, 2.0), "a": (0.5, 2.0), "z": (0.2, 0.8), "t": (0.0, 1.0)}
    guarded = guard(Likelihood(floored_network, choice), ddm, box)
    params = jnp.array([[1.0, 1.0, 0.5, 0.3], [2.5, 1.0, 0.5, 0.3], [1.0, 1.0, 0.9, 0.3]])
    rt, response = jnp.array([1.0, 1.0, 1.0]), jnp.array([1.0, -1.0, 1.0])
    logp = np.asarray(guarded.logp_rt(params, rt, response))
    assert np.isfinite(logp[0])
    assert logp[1] == logp[2] == -np.inf
    choice_logp = np.asarray(guarded.logp_choice(params, response))
    assert np.isfinite(choice_logp[0])
    assert choice_logp[1] == choice_logp[2] == -np.inf

    def total(p):
        return (guarded.logp_rt(p, rt, response) + guarded.logp_choice(p, response)).sum()

    grad = np.asarray(jax.grad(total)(params))
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[1:], 0.0)
    assert np.abs(grad[0]).sum() > 0


def test_no_box_leaves_the_likelihood_alone_inside_the_model(ddm):
    guarded = guard(Likelihood(exact_logp, choice), ddm, None)
    with jax.enable_x64(True):
        np.testing.assert_allclose(
            guarded.logp_rt(PARAMS, RT, RESPONSE), exact_logp(PARAMS, RT, RESPONSE), rtol=1e-12
        )
        np.testing.assert_allclose(
            guarded.logp_choice(PARAMS, RESPONSE), choice(PARAMS, RESPONSE), rtol=1e-12
        )
