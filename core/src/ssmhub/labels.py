"""Labelled training rows for one parameter set.

The estimators and the mixture of training points come from ssm-simulators (its
``KDELikelihoodEstimator``, ``PyDDMEstimatorBuilder`` and ``ResampleMixtureStrategy``);
ssmhub adds only what they lack: simulations from any plugin's simulator (not just ssms
models) and an ``exact`` estimator that labels genuine model draws with a closed-form
likelihood registered by a plugin.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ssmhub.errors import SsmhubError
from ssmhub.likelihood import Likelihood
from ssmhub.recipe import Recipe
from ssmhub.simulation import Simulator
from ssmhub.spec import ModelSpec

# Label of impossible points (rt below zero or beyond the density's reach), as in LAN training.
LOG_FLOOR = math.log(1e-29)


class ExactEstimator:
    """ssms' estimator protocol over model draws and a closed-form log-likelihood."""

    def __init__(
        self,
        spec: ModelSpec,
        theta: dict[str, float],
        likelihood: Likelihood,
        rt: np.ndarray,
        response: np.ndarray,
        max_rt: float,
    ) -> None:
        self._params = np.array([[theta[n] for n in spec.parameter_names]])
        self._likelihood = likelihood
        self._rt, self._response = rt, response
        self._metadata = {"max_t": max_rt, "possible_choices": list(spec.choices)}

    def sample(self, n_samples: int, random_state: int | None = None) -> dict[str, np.ndarray]:
        pick = np.random.default_rng(random_state).integers(0, self._rt.size, n_samples)
        return {"rts": self._rt[pick], "choices": self._response[pick]}

    def evaluate(self, rts: np.ndarray, choices: np.ndarray) -> np.ndarray:
        rts = np.asarray(rts, dtype=np.float64).ravel()
        params = np.repeat(self._params, rts.size, axis=0)
        logp = np.asarray(self._likelihood.logp_rt(params, rts, np.asarray(choices).ravel()))
        return np.maximum(np.nan_to_num(logp, nan=LOG_FLOOR, neginf=LOG_FLOOR), LOG_FLOOR)

    def get_metadata(self) -> dict[str, Any]:
        return self._metadata


def _generator_config(recipe: Recipe) -> dict[str, Any]:
    """The slice of an ssms generator config that its estimators and strategy read."""
    return {
        "estimator": {
            "kde_displace_t": False,
            "pdf_interpolation": "cubic",
            "max_undecided_prob": 0.5,
        },
        "training": {
            "n_samples_per_param": recipe.n_training_points,
            "mixture_probabilities": list(recipe.mixture),
            "separate_response_channels": False,
            "negative_rt_log_likelihood": LOG_FLOOR,
        },
        "delta_t": 0.001,
        "max_t": recipe.max_rt,
    }


def _ssms_model_config(spec: ModelSpec) -> dict[str, Any]:
    from ssms.config import model_config

    if spec.ssms_model is None or spec.ssms_model not in model_config:
        raise SsmhubError(
            f"estimator 'pyddm' needs an ssm-simulators model; {spec.name!r} names none"
        )
    return model_config[spec.ssms_model]


def check_estimator(spec: ModelSpec, recipe: Recipe, likelihood: Likelihood | None) -> None:
    """Fail before any work if the recipe's estimator cannot serve this model."""
    if recipe.estimator == "exact" and likelihood is None:
        raise SsmhubError(
            f"recipe.estimator: 'exact' needs a likelihood named 'exact' for model "
            f"{spec.name!r}, and no plugin registers one; use 'kde'"
        )
    if recipe.estimator == "pyddm":
        from ssms.external_simulators.pyddm_mapper import SSMSToPyDDMMapper

        ok, reason = SSMSToPyDDMMapper.is_compatible(_ssms_model_config(spec))
        if not ok:
            raise SsmhubError(
                f"recipe.estimator: 'pyddm' cannot solve model {spec.name!r} ({reason}); use 'kde'"
            )


def make_rows(
    spec: ModelSpec,
    recipe: Recipe,
    theta: dict[str, float],
    simulator: Simulator,
    likelihood: Likelihood | None,
    seed: int,
) -> np.ndarray:
    """Training rows for one parameter set, as float32.

    LAN: up to ``n_training_points`` rows of [parameters, rt, response, log-likelihood]; rows
    with rt <= t (the non-decision time, a parameter named ``t`` by convention) are dropped.
    CPN: one row of [parameters, P(response = +1)].
    """
    params = np.array([theta[n] for n in spec.parameter_names])
    sim_seed, mix_seed = np.random.SeedSequence(seed).generate_state(2) >> 1  # 31-bit seeds
    if recipe.kind == "cpn":
        p_upper = _p_upper(spec, recipe, theta, simulator, likelihood, int(sim_seed))
        return np.append(params, p_upper).astype(np.float32)[None, :]
    estimator = _estimator(spec, recipe, theta, simulator, likelihood, int(sim_seed))
    from ssms.dataset_generators.strategies.resample_mixture_strategy import (
        ResampleMixtureStrategy,
    )

    strategy = ResampleMixtureStrategy(
        _generator_config(recipe),
        {"params": list(spec.parameter_names), "nchoices": len(spec.choices)},
    )
    rows = strategy.generate(theta, estimator, random_state=int(mix_seed))
    # Every SSM has rt > t; the likelihood is -inf below that whatever a network says, so
    # rows there would only teach the network a jump it cannot fit.
    t = theta.get("t", 0.0)
    return rows[rows[:, len(params)] > t]


def _simulate_one(simulator: Simulator, theta: dict[str, float], n: int, seed: int):
    sim = simulator({k: np.array([v]) for k, v in theta.items()}, n, seed)
    return sim.rt[0], sim.response[0]


def _estimator(
    spec: ModelSpec,
    recipe: Recipe,
    theta: dict[str, float],
    simulator: Simulator,
    likelihood: Likelihood | None,
    seed: int,
) -> Any:
    if recipe.estimator == "pyddm":
        from ssms.dataset_generators.estimator_builders.pyddm_builder import (
            PyDDMEstimatorBuilder,
        )

        return PyDDMEstimatorBuilder(_generator_config(recipe), _ssms_model_config(spec)).build(
            theta
        )
    rt, response = _simulate_one(simulator, theta, recipe.n_simulations, seed)
    if recipe.estimator == "exact":
        assert likelihood is not None
        return ExactEstimator(spec, theta, likelihood, rt, response, recipe.max_rt)
    from ssms.dataset_generators.likelihood_estimators.kde_estimator import (
        KDELikelihoodEstimator,
    )

    estimator = KDELikelihoodEstimator()
    estimator.fit(
        {
            "rts": rt[:, None],
            "choices": response[:, None],
            "metadata": {"max_t": recipe.max_rt, "possible_choices": list(spec.choices)},
        }
    )
    return estimator


def _p_upper(
    spec: ModelSpec,
    recipe: Recipe,
    theta: dict[str, float],
    simulator: Simulator,
    likelihood: Likelihood | None,
    seed: int,
) -> float:
    if recipe.estimator == "exact":
        assert likelihood is not None
        assert likelihood.logp_choice is not None
        params = np.array([[theta[n] for n in spec.parameter_names]])
        return float(np.exp(likelihood.logp_choice(params, np.array([1]))[0]))
    if recipe.estimator == "pyddm":
        return float(
            _estimator(spec, recipe, theta, simulator, likelihood, seed).solution.prob("correct")
        )
    _, response = _simulate_one(simulator, theta, recipe.n_simulations, seed)
    return float(np.mean(response == 1))
