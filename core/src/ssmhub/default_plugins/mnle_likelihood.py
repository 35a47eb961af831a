"""The ``mnle`` likelihood builder: one normalised network (`ssmhub.mnle`) for any model.

It scores trials with a reaction time and choice-only trials with the same network, so it
needs no CPN and no correction. The network sees parameters only, so it runs once per
distinct parameter row: one when every parameter is shared by all trials, one per group of
trials that share theirs (``by_row``, `ssmhub.trial_groups`); the per-trial work is then a
mixture of M Gaussians. Guards are the core's (`ssmhub.ops`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ssmhub.errors import SsmhubError
from ssmhub.hookspecs import hookimpl
from ssmhub.likelihood import Array, Likelihood, LikelihoodBuilder, NetworkSource
from ssmhub.mnle import at_rows, choice_index, log_choice_probability
from ssmhub.spec import ModelSpec


@dataclass(frozen=True)
class MNLELikelihood:
    """Builds a `Likelihood` from the model's trained ``mnle`` network."""

    networks: NetworkSource  # the plugin manager, handed over by `register_likelihoods`
    name: str = "mnle"

    def supports(self, spec: ModelSpec) -> bool:
        return self.networks.locate_network(spec, "mnle") is not None

    def build(self, spec: ModelSpec) -> Likelihood:
        network = self.networks.load_network(spec, "mnle")
        if network.config.choices != spec.choices:
            raise SsmhubError(
                f"the {spec.name} mnle network was trained on choices "
                f"{list(network.config.choices or ())}, but the installed model has "
                f"{list(spec.choices)}: retrain it for this version of the model"
            )

        def logp_choice(params: Array, response: Array, row: Array | None = None) -> Array:
            index = choice_index(response, spec.choices)
            return log_choice_probability(at_rows(network.head(params), row), index)

        return Likelihood(
            network.mnle_logp,
            logp_choice,
            network.config.box,
            by_row=True,
            max_rt=network.config.recipe.max_rt,
            provenance=(network.provenance(),),
        )


@hookimpl
def register_likelihoods(
    register: Callable[[LikelihoodBuilder], None], networks: NetworkSource
) -> None:
    register(MNLELikelihood(networks))
