"""A network in memory: a pure JAX function of its input rows, so jit, grad and vmap work
and the inference Op wraps it directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ssmhub import mnle
from ssmhub.network.config import NetworkConfig
from ssmhub.network.mlp import features, mlp, mlp_outputs
from ssmhub.network.origin import Origin


@dataclass(frozen=True, eq=False)  # hashed by identity, so jax.jit(network) works
class Network:
    """A loaded network: call it on input rows laid out as ``config.inputs``.

    A LAN, and an MNLE, map (N, P + 2) rows [parameters, rt, response] to N log-likelihoods;
    a CPN maps (N, P) parameter rows to N values of log P(upper choice) (the spec's
    `ModelSpec.upper_choice`). An MNLE's own interface is `head` (parameters only) and
    `ssmhub.mnle`. ``weights_sha256`` identifies
    the weights file, so that a LAN's correction can check it sits beside its own CPN, and
    so that a fit can name the network that made it (`provenance`).
    """

    config: NetworkConfig
    weights: tuple[tuple[Any, Any], ...]
    correction: tuple[tuple[Any, Any], ...] | None = None
    weights_sha256: str = ""
    source: str = ""  # the directory it was read from
    origin: Origin | None = None  # how a lookup found it; None: read from a given directory

    def provenance(self) -> dict[str, Any]:
        """What a fit records about this network: enough to find and check it again."""
        c = self.config
        found = self.origin.model_dump(exclude_none=True) if self.origin else {}
        return {
            "model": c.model,
            "kind": c.kind,
            "source": "directory",
            **found,
            "path": self.source,
            "weights_sha256": self.weights_sha256,
            "trained_with": dict(c.versions),
        }

    def logits(self, x: Any) -> Any:
        """The raw network output (a log-likelihood, or the logit of P(upper))."""
        c = self.config
        return mlp(self.weights, features(c.inputs, c.settings.rt_feature, c.non_decision_time, x))

    def head(self, params: Any) -> mnle.Head:
        """An MNLE's distributions at (B, P) parameter rows."""
        import jax.numpy as jnp

        c = self.config
        assert c.kind == "mnle"
        assert c.choices is not None
        assert c.components is not None
        out = mlp_outputs(self.weights, jnp.asarray(params, self.weights[0][0].dtype))
        return mnle.head(out, len(c.choices), c.components)

    def mnle_logp(self, params: Any, rt: Any, response: Any, row: Any = None) -> Any:
        """An MNLE's log p(rt, response); ``params`` is (1, P) or (N, P), or (G, P) with
        ``row`` giving each trial's (see `Likelihood.by_row`); rt and response (N,)."""
        import jax.numpy as jnp

        names, ndt = self.config.parameter_names, self.config.non_decision_time
        assert self.config.choices is not None
        params = jnp.asarray(params)
        t = params[:, names.index(ndt)] if ndt is not None else jnp.zeros(params.shape[:1])
        t = t if row is None else t[row]
        index = mnle.choice_index(response, self.config.choices)
        y = mnle.decision_log_time(jnp.asarray(rt, self.weights[0][0].dtype), t)
        return mnle.log_likelihood(mnle.at_rows(self.head(params), row), index, y)

    def correction_of(self, params: Any, response: Any) -> Any:
        """The correction c(parameters, response) this LAN carries (`ssmhub.correction`)."""
        import jax.numpy as jnp

        assert self.correction is not None
        dtype = self.weights[0][0].dtype
        response = jnp.asarray(response, dtype)
        params = jnp.broadcast_to(jnp.asarray(params, dtype), (*response.shape, params.shape[-1]))
        rows = jnp.concatenate([params, response[:, None]], axis=-1)
        return mlp(self.correction, rows)

    def __call__(self, x: Any) -> Any:
        import jax

        if self.config.kind == "mnle":
            n = len(self.config.parameter_names)
            return self.mnle_logp(x[:, :n], x[:, n], x[:, n + 1])
        out = self.logits(x)
        return jax.nn.log_sigmoid(out) if self.config.kind == "cpn" else out
