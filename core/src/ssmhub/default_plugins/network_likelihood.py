"""The ``lan`` likelihood builder: trained networks (LAN, and CPN if there is one) for any model.

Networks are found through the ``locate_network`` hook (cache, plugins, registries), by the
`NetworkSource` the hook hands over (the plugin manager), so this module never imports the
manager that imports it. A LAN
that carries a correction (`ssmhub.correction`) is renormalised to the CPN it was fitted to.
The builder returns plain JAX functions; the guards (``rt <= t``, the training box) and the
PyTensor wrapping are the core's, in `ssmhub.ops`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ssmhub.hookspecs import hookimpl
from ssmhub.likelihood import Array, Likelihood, LikelihoodBuilder, NetworkSource
from ssmhub.network.loaded import Network
from ssmhub.spec import ModelSpec


def lan_logp(lan: Network, params: Array, rt: Array, response: Array) -> Array:
    """LAN log-likelihoods of (N, P) parameter rows at (rt, response), in the network's dtype.

    The LAN's own output: its correction, if it carries one, is `corrected_lan_logp`'s.
    """
    import jax.numpy as jnp

    dtype = lan.weights[0][0].dtype  # float32 weights: compute in float32, it is faster
    params = jnp.broadcast_to(
        jnp.asarray(params, dtype), (jnp.shape(rt)[0], len(lan.config.parameter_names))
    )
    x = jnp.concatenate(
        [
            params,
            jnp.asarray(rt, dtype)[:, None],
            jnp.asarray(response, dtype)[:, None],
        ],
        axis=-1,
    )
    return lan(x)


def corrected_lan_logp(lan: Network, params: Array, rt: Array, response: Array) -> Array:
    """The LAN's log-likelihood minus its correction c(parameters, response)."""
    return lan_logp(lan, params, rt, response) - lan.correction_of(params, response)


def _lan_part(lan: Network, cpn: Network | None) -> Callable[[Array, Array, Array], Array]:
    """The corrected LAN where its correction was fitted to this CPN; else the LAN, with a
    warning if a correction had to be left out."""
    correction = lan.config.correction
    if correction is None:
        return partial(lan_logp, lan)
    if cpn is not None and cpn.weights_sha256 == correction.cpn_sha256:
        return partial(corrected_lan_logp, lan)
    found = "no CPN" if cpn is None else f"a CPN with sha256 {cpn.weights_sha256[:12]}"
    warnings.warn(
        f"the {lan.config.model} LAN's correction was fitted to the CPN with weights sha256 "
        f"{correction.cpn_sha256[:12]}, but {found} was found: the LAN is used uncorrected "
        "(`ssmhub normalise` fits a correction to the installed CPN)",
        UserWarning,
        stacklevel=3,
    )
    return partial(lan_logp, lan)


def cpn_logp(cpn: Network, upper: int, params: Array, response: Array) -> Array:
    """log P(response) from the CPN's logit of P(upper), ``upper`` being the spec's
    `ModelSpec.upper_choice`."""
    import jax
    import jax.numpy as jnp

    logit = cpn.logits(jnp.asarray(params, cpn.weights[0][0].dtype))
    return jax.nn.log_sigmoid(jnp.where(jnp.asarray(response) == upper, logit, -logit))


@dataclass(frozen=True)
class NetworkLikelihood:
    """Builds a `Likelihood` from the model's trained networks."""

    networks: NetworkSource
    name: str = "lan"

    def supports(self, spec: ModelSpec) -> bool:
        return self.networks.locate_network(spec, "lan") is not None

    def build(self, spec: ModelSpec) -> Likelihood:
        spec.check_kind("lan")
        lan = self.networks.load_network(spec, "lan")
        has_cpn = self.networks.locate_network(spec, "cpn") is not None
        cpn = self.networks.load_network(spec, "cpn") if has_cpn else None
        boxes = [net.config.box for net in (lan, cpn) if net is not None]
        box = {  # where both networks were trained
            name: (max(b[name][0] for b in boxes), min(b[name][1] for b in boxes))
            for name in spec.parameter_names
        }
        return Likelihood(
            _lan_part(lan, cpn),
            partial(cpn_logp, cpn, spec.upper_choice) if cpn is not None else None,
            box,
            max_rt=lan.config.recipe.max_rt,  # the CPN sees no rt
            provenance=tuple(net.provenance() for net in (lan, cpn) if net is not None),
        )


@hookimpl
def register_likelihoods(
    register: Callable[[LikelihoodBuilder], None], networks: NetworkSource
) -> None:
    register(NetworkLikelihood(networks))
