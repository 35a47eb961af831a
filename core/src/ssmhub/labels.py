"""Labelled training rows for one parameter set.

The estimators and the mixture of training points come from ssm-simulators (its
``KDELikelihoodEstimator``, ``PyDDMEstimatorBuilder`` and ``ResampleMixtureStrategy``);
ssmhub adds only what they lack: simulations from any plugin's simulator (not just ssms
models) and an ``exact`` estimator that labels genuine model draws with a closed-form
likelihood registered by a plugin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Labeller:
    """Makes the labelled rows of one model's recipe, one parameter set at a time."""

    spec: ModelSpec
    recipe: Recipe
    simulator: Simulator
    likelihood: Likelihood | None  # the closed form, for the 'exact' estimator

    def rows(self, theta: dict[str, float], seed: int) -> np.ndarray:
        """Training rows for one parameter set, as float32.

        LAN: up to ``n_training_points`` rows of [parameters, rt, response, log-likelihood];
        rows with rt <= t (the non-decision time, a parameter named ``t`` by convention) are
        dropped. CPN: one row of [parameters, P(response = +1)].
        """
        params = np.array([theta[n] for n in self.spec.parameter_names])
        sim_seed, mix_seed = np.random.SeedSequence(seed).generate_state(2) >> 1  # 31 bits
        if self.recipe.kind == "cpn":
            p_upper = self._p_upper(theta, int(sim_seed))
            return np.append(params, p_upper).astype(np.float32)[None, :]
        from ssms.dataset_generators.strategies.resample_mixture_strategy import (
            ResampleMixtureStrategy,
        )

        strategy = ResampleMixtureStrategy(
            _generator_config(self.recipe),
            {"params": list(self.spec.parameter_names), "nchoices": len(self.spec.choices)},
        )
        estimator = self._estimator(theta, int(sim_seed))
        rows = strategy.generate(theta, estimator, random_state=int(mix_seed))
        # Every SSM has rt > t; the likelihood is -inf below that whatever a network says,
        # so rows there would only teach the network a jump it cannot fit.
        return rows[rows[:, len(params)] > theta.get("t", 0.0)]

    def _simulate(self, theta: dict[str, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
        sim = self.simulator(
            {k: np.array([v]) for k, v in theta.items()}, self.recipe.n_simulations, seed
        )
        return sim.rt[0], sim.response[0]

    def _estimator(self, theta: dict[str, float], seed: int) -> Any:
        if self.recipe.estimator == "pyddm":
            from ssms.dataset_generators.estimator_builders.pyddm_builder import (
                PyDDMEstimatorBuilder,
            )

            builder = PyDDMEstimatorBuilder(
                _generator_config(self.recipe), _ssms_model_config(self.spec)
            )
            return builder.build(theta)
        rt, response = self._simulate(theta, seed)
        if self.recipe.estimator == "exact":
            assert self.likelihood is not None
            return ExactEstimator(
                self.spec, theta, self.likelihood, rt, response, self.recipe.max_rt
            )
        from ssms.dataset_generators.likelihood_estimators.kde_estimator import (
            KDELikelihoodEstimator,
        )

        estimator = KDELikelihoodEstimator()
        metadata = {"max_t": self.recipe.max_rt, "possible_choices": list(self.spec.choices)}
        estimator.fit({"rts": rt[:, None], "choices": response[:, None], "metadata": metadata})
        return estimator

    def _p_upper(self, theta: dict[str, float], seed: int) -> float:
        if self.recipe.estimator == "exact":
            assert self.likelihood is not None
            assert self.likelihood.logp_choice is not None
            params = np.array([[theta[n] for n in self.spec.parameter_names]])
            return float(np.exp(self.likelihood.logp_choice(params, np.array([1]))[0]))
        if self.recipe.estimator == "pyddm":
            return float(self._estimator(theta, seed).solution.prob("correct"))
        _, response = self._simulate(theta, seed)  # the share of simulated upper responses
        return float(np.mean(response == 1))
