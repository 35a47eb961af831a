"""Trained networks on disk and in memory.

A network directory holds ``weights.safetensors`` (plain arrays: loading never runs code
from the file), ``config.json`` (architecture, input layout, training box, provenance,
metrics) and a model card ``README.md``. A LAN may also carry a correction network (see
`ssmhub.correction`), stored beside its layers as ``correction.layers.*``. In memory a
`Network` is a pure JAX function of its input rows, so jit, grad and vmap work and the
inference Op wraps it directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    model_validator,
)

from ssmhub import mnle
from ssmhub.correction import Correction
from ssmhub.errors import SsmhubError
from ssmhub.likelihood import MIN_DECISION_TIME
from ssmhub.recipe import NetworkKind, Recipe
from ssmhub.spec import ModelSpec
from ssmhub.trainer import RtFeature, TrainSettings

if TYPE_CHECKING:
    import numpy as np

    Layers = list[tuple[np.ndarray, np.ndarray]]

WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
CARD = "README.md"
PLOT = "accuracy.png"  # written by `ssmhub evaluate`, beside the accuracy it pictures


class Accuracy(BaseModel):
    """What `ssmhub evaluate` measured: absolute errors against a reference likelihood.

    Recorded in config.json as ``metrics["accuracy"]``, copied into a registry's index, and
    shown on both model cards (the shipped one and the Hub's) by `markdown`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str  # "exact" (closed form) or "pyddm" (Fokker-Planck)
    unit: Literal["nats", "probability"]
    n_parameter_sets: PositiveInt
    n_trials_per_set: PositiveInt
    seed: int
    median_abs_error: NonNegativeFloat
    p90_abs_error: NonNegativeFloat
    p99_abs_error: NonNegativeFloat
    # Percentiles cannot see a rare trial scored tens of nats off (the tail PyDDM leaves out
    # did that to 1 trial in 3,000); the maximum can. None: measured before it was recorded.
    max_abs_error: NonNegativeFloat | None = None
    # Trials whose reference density is zero cannot be scored; how many there were.
    n_unscored: NonNegativeInt = 0

    def markdown(self) -> str:
        """How it was measured, in a sentence, and the errors in a table."""
        lan = self.unit == "nats"
        error = "log-likelihood (nats)" if lan else "P(upper choice)"
        trials = f", {self.n_trials_per_set} trials each drawn from the model" if lan else ""
        maximum = "-" if self.max_abs_error is None else f"{self.max_abs_error:.4g}"
        unscored = (
            f"\n\n{self.n_unscored} trials had a reference density of zero and were not scored."
            if self.n_unscored
            else ""
        )
        return (
            f"Accuracy against the {self.reference} likelihood (`ssmhub evaluate`): "
            f"{self.n_parameter_sets} parameter sets drawn uniformly from the training box"
            f"{trials}, seed {self.seed}.\n\n"
            "| absolute error in | median | p90 | p99 | max |\n"
            "| --- | ---: | ---: | ---: | ---: |\n"
            f"| {error} | {self.median_abs_error:.4g} | {self.p90_abs_error:.4g} | "
            f"{self.p99_abs_error:.4g} | {maximum} |{unscored}"
        )


class NetworkConfig(BaseModel):
    """Everything needed to rebuild, check and trust a network, saved as config.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: Literal[1] = 1
    model: str
    kind: NetworkKind
    parameter_names: tuple[str, ...]
    # The spec's non-decision time when the network was trained (`ModelSpec.non_decision_time`):
    # the LAN's log(rt - t) input and the MNLE's decision time subtract it.
    non_decision_time: str | None
    inputs: tuple[str, ...]
    output: Literal["log_likelihood", "logit_p_upper", "mixture"]
    hidden: tuple[int, ...]
    # mnle only (see `ssmhub.mnle`): the spec's choices in output order, and the Gaussians
    # per choice.
    choices: tuple[int, ...] | None = None
    components: PositiveInt | None = None
    activation: Literal["tanh"] = "tanh"
    box: dict[str, tuple[float, float]]
    recipe: Recipe
    recipe_sha256: str
    data_manifest_sha256: str
    settings: TrainSettings
    versions: dict[str, str]
    metrics: dict[str, Any] = {}
    command: str = ""
    correction: Correction | None = None

    @model_validator(mode="before")
    @classmethod
    def _recorded_non_decision_time(cls, data: Any) -> Any:
        """Configs written before the field existed: their training code took the parameter
        named t, if any, as the non-decision time, so that is what their weights compute."""
        if isinstance(data, dict) and "non_decision_time" not in data:
            data = {
                **data,
                "non_decision_time": "t" if "t" in data.get("parameter_names", ()) else None,
            }
        return data

    @model_validator(mode="after")
    def _check_non_decision_time(self) -> Self:
        if (
            self.non_decision_time is not None
            and self.non_decision_time not in self.parameter_names
        ):
            raise ValueError(
                f"non_decision_time {self.non_decision_time!r} is not one of the network's "
                f"parameter_names {list(self.parameter_names)}"
            )
        if (
            self.non_decision_time is None
            and "rt" in self.inputs
            and self.settings.rt_feature == "log_decision_time"
        ):
            raise ValueError(
                "settings.rt_feature 'log_decision_time' needs a non_decision_time; a model "
                "without one is trained on rt"
            )
        return self

    @property
    def n_outputs(self) -> int:
        if self.kind != "mnle":
            return 1
        assert self.choices is not None
        assert self.components is not None
        return mnle.n_outputs(len(self.choices), self.components)

    @property
    def accuracy(self) -> Accuracy | None:
        """The recorded accuracy report, if the network was evaluated."""
        report = self.metrics.get("accuracy")
        return None if report is None else Accuracy.model_validate(report)


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

    def provenance(self) -> dict[str, Any]:
        """What a fit records about this network: enough to find and check it again."""
        c = self.config
        return {
            "model": c.model,
            "kind": c.kind,
            "source": self.source,
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


Weights = tuple[tuple[Any, Any], ...] | list[tuple[Any, Any]]


def mlp_outputs(weights: Weights, x: Any) -> Any:
    """A tanh MLP: the function every ssmhub network computes."""
    import jax.numpy as jnp

    h = jnp.asarray(x)
    for kernel, bias in weights[:-1]:
        h = jnp.tanh(h @ kernel + bias)
    kernel, bias = weights[-1]
    return h @ kernel + bias


def mlp(weights: Weights, x: Any) -> Any:
    """A tanh MLP's one output."""
    return mlp_outputs(weights, x)[..., 0]


def features(
    inputs: tuple[str, ...], rt_feature: RtFeature, non_decision_time: str | None, x: Any
) -> Any:
    """Input rows as the MLP sees them (see `TrainSettings.rt_feature`)."""
    import jax.numpy as jnp

    x = jnp.asarray(x)
    if rt_feature == "rt" or "rt" not in inputs:
        return x
    rt, t = inputs.index("rt"), inputs.index(non_decision_time)  # NetworkConfig checks it
    decision = jnp.maximum(x[..., rt] - x[..., t], MIN_DECISION_TIME)
    return x.at[..., rt].set(jnp.log(decision))


CORRECTION = "correction."  # prefix of the correction network's tensors


def fold_scaling(weights: Layers, shift: np.ndarray, scale: np.ndarray) -> Layers:
    """``weights`` with an input standardisation ``(x - shift) / scale`` folded into the first
    layer: networks are trained on standardised inputs and saved as plain MLPs."""
    kernel, bias = weights[0]
    return [(kernel / scale[:, None], bias - (shift / scale) @ kernel), *weights[1:]]


def command_line() -> str:
    """The `ssmhub` command that is running (also as ``python -m ssmhub.cli``), recorded as a
    network's provenance; empty when another program runs."""
    import shlex
    import sys

    ours = sys.argv[0].endswith(("ssmhub", str(Path("ssmhub", "cli.py"))))
    return shlex.join(["ssmhub", *sys.argv[1:]]) if ours else ""


def layer_names(n_layers: int, prefix: str = "") -> list[tuple[str, str]]:
    return [(f"{prefix}layers.{i}.kernel", f"{prefix}layers.{i}.bias") for i in range(n_layers)]


def save_network(
    out: Path, config: NetworkConfig, weights: Layers, correction: Layers | None = None
) -> None:
    """Write a network directory; each file lands whole (temporary name, then rename)."""
    import numpy as np
    from safetensors.numpy import save

    from ssmhub.files import write_atomically, write_text_atomically

    if (correction is None) != (config.correction is None):
        raise ValueError(
            "config.correction and the correction's weights come together: "
            f"config.correction is {'set' if config.correction else 'None'}, the weights "
            f"{'are missing' if correction is None else 'were given'}"
        )
    tensors = {}
    for prefix, layers in (("", weights), (CORRECTION, correction or [])):
        for (k_name, b_name), (kernel, bias) in zip(
            layer_names(len(layers), prefix), layers, strict=True
        ):
            tensors[k_name] = np.ascontiguousarray(kernel, dtype=np.float32)
            tensors[b_name] = np.ascontiguousarray(bias, dtype=np.float32)
    blob = save(tensors, metadata={"format": "ssmhub-mlp"})
    write_atomically(out / WEIGHTS, lambda f: f.write(blob))
    write_text_atomically(out / CONFIG, config.model_dump_json(indent=2))
    write_text_atomically(out / CARD, model_card(config))


def read_network(path: Path, spec: ModelSpec | None = None) -> Network:
    """Load and check a network directory; ``spec`` is the installed plugin's spec."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from ssmhub.files import sha256_of

    for name in (CONFIG, WEIGHTS):
        if not (path / name).is_file():
            raise SsmhubError(f"{path}: not a network directory, {name} is missing")
    try:
        config = NetworkConfig.model_validate_json((path / CONFIG).read_text())
    except ValidationError as exc:
        raise SsmhubError(f"{path / CONFIG}: invalid network config: {exc}") from None
    if spec is not None and config.parameter_names != spec.parameter_names:
        raise SsmhubError(
            f"{path / CONFIG}: the network takes parameters {list(config.parameter_names)} "
            f"but the installed model {spec.name!r} has {list(spec.parameter_names)}"
        )
    if spec is not None and config.non_decision_time != spec.non_decision_time:
        raise SsmhubError(
            f"{path / CONFIG}: the network was trained with non_decision_time "
            f"{config.non_decision_time!r} but the installed model {spec.name!r} declares "
            f"{spec.non_decision_time!r}: retrain it for this version of the model"
        )
    try:
        tensors = load_file(path / WEIGHTS)
    except (SafetensorError, OSError) as exc:
        raise SsmhubError(f"{path / WEIGHTS}: unreadable weights: {exc}") from None
    weights = _layers(tensors, "", [len(config.inputs), *config.hidden, config.n_outputs], path)
    correction = None
    if config.correction is not None:
        n_in = len(config.parameter_names) + 1  # parameters and response
        correction = _layers(
            tensors, CORRECTION, [n_in, *config.correction.settings.hidden, 1], path
        )
    if tensors:
        raise SsmhubError(f"{path / WEIGHTS}: unexpected tensors {sorted(tensors)}")
    return Network(config, weights, correction, sha256_of(path / WEIGHTS), str(path.resolve()))


def _layers(
    tensors: dict[str, np.ndarray], prefix: str, sizes: list[int], path: Path
) -> tuple[tuple[Any, Any], ...]:
    """Take the layers named ``prefix`` out of ``tensors``, checking shapes against config."""
    import jax.numpy as jnp

    layers = []
    for (k_name, b_name), n_in, n_out in zip(
        layer_names(len(sizes) - 1, prefix), sizes[:-1], sizes[1:], strict=True
    ):
        for name, shape in ((k_name, (n_in, n_out)), (b_name, (n_out,))):
            got = tensors.get(name)
            if got is None or got.shape != shape:
                raise SsmhubError(
                    f"{path / WEIGHTS}: tensor {name} has shape "
                    f"{None if got is None else got.shape}, config.json implies {shape}"
                )
        layers.append((jnp.asarray(tensors.pop(k_name)), jnp.asarray(tensors.pop(b_name))))
    return tuple(layers)


def load_network(model: str, kind: NetworkKind, path: Path | None = None) -> Network:
    """The ``kind`` network of ``model``: from ``path``, else from the first source that has
    one (cache, the plugin's shipped networks, remote registries)."""
    from ssmhub.plugins import get_manager

    manager = get_manager()
    spec = manager.catalog.get(model)
    found = path or manager.locate_network(spec, kind)
    if found is None:
        from ssmhub.default_plugins.cache import offline_reason

        offline = offline_reason()
        hint = (
            f"; ssmhub is offline ({offline}): on a machine with internet access run "
            f"`SSMHUB_HOME=/shared/ssmhub ssmhub pull {model} --kind {kind}` and set "
            "SSMHUB_HOME=/shared/ssmhub here"
            if offline
            else ""
        )
        raise SsmhubError(
            f"no {kind} network for model {model!r} in the cache, in its plugin, or in any "
            f"registry; train one with `ssmhub generate` and `ssmhub train`{hint}"
        )
    network = read_network(Path(found), spec)
    if network.config.kind != kind:
        raise SsmhubError(f"{found}: holds a {network.config.kind} network, not a {kind}")
    return network


def shipped_network(package: str, kind: NetworkKind) -> Path | None:
    """A network shipped as package data at ``<package>/networks/<kind>/``, if there is one.

    Plugins call this from their ``locate_network`` hook to offer their trained networks.
    """
    from importlib.resources import files

    path = Path(str(files(package) / "networks" / kind))
    return path if (path / CONFIG).is_file() else None


def _card_metrics(config: NetworkConfig) -> str:
    """Training and accuracy in words and one table; the loss by epoch stays in config.json."""
    metrics = config.metrics
    lines = []
    if "epochs" in metrics:
        start = config.settings.init
        lines.append(
            (f"Fine-tuned from the network in `{start}` for " if start else "Trained for ")
            + f"{metrics['epochs']} epochs; best validation loss "
            f"{metrics['validation_loss']:.4g} (the loss by epoch is in `config.json`)."
        )
    accuracy = config.accuracy
    lines.append(
        accuracy.markdown()
        if accuracy
        else "Not evaluated: `ssmhub evaluate` measures a network against its model's exact "
        "or Fokker-Planck likelihood; a model with neither is checked by parameter recovery."
    )
    if config.kind == "mnle":
        share = metrics.get("undecided_share")
        lines.append(
            f"Trials the simulator did not finish within {config.recipe.max_rt:g} s of decision "
            "time are learnt as an undecided outcome, never as a choice"
            + (f" ({share:.3%} of the training trials)" if share is not None else "")
            + ": the choice probabilities and P(undecided) sum to 1, and each choice's "
            "density of rt integrates to 1."
        )
        choice = metrics.get("choice_accuracy")
        if choice is not None:
            lines.append(Accuracy.model_validate(choice).markdown())
        if "mass_error" in metrics:
            lines.append(
                "Largest |integral of a choice's rt density - 1| (trapezoid rule, "
                f"`ssmhub evaluate`): {metrics['mass_error']:.2g}."
            )
    if config.correction is not None:
        c = config.correction
        lines.append(
            f"Carries a correction network ({list(c.settings.hidden)}, tanh; `ssmhub "
            "normalise`) that renormalises its density to the choice probability of the CPN "
            f"whose weights have sha256 `{c.cpn_sha256}`; held-out error of the correction: RMS "
            f"{c.rms_error:.2g}, max {c.max_error:.2g} nats. The accuracy above is the "
            "uncorrected network's."
        )
    return "\n\n".join(lines)


KIND_NAMES = {
    "lan": "likelihood approximation network",
    "cpn": "choice probability network",
    "mnle": "normalised likelihood network of reaction time and choice (MNLE type; "
    "choices, then a mixture of Gaussians in log decision time per choice)",
}


def model_card(config: NetworkConfig) -> str:
    """A short model card: what the network is, how it was made, how well it does."""
    box = "\n".join(f"| {n} | {lo:g} | {hi:g} |" for n, (lo, hi) in config.box.items())
    return f"""---
library_name: ssmhub
tags: [ssm, {config.kind}, {config.model}]
license: mit
---
# {config.model} {config.kind.upper()}

A {KIND_NAMES[config.kind]}
for the `{config.model}` model, trained with ssmhub. Inputs: `{", ".join(config.inputs)}`;
output: {config.output}; layers {list(config.hidden)} with {config.activation}.

## Training box

| parameter | lower | upper |
| --- | --- | --- |
{box}

## Training and accuracy

{_card_metrics(config)}

## Provenance

- recipe sha256: `{config.recipe_sha256}`; data manifest sha256: `{config.data_manifest_sha256}`
- versions: {json.dumps(config.versions)}
- command: `{config.command}`

## Use

```python
import ssmhub
net = ssmhub.load_network("{config.model}", "{config.kind}")
```
"""
