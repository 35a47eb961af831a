"""The model card shipped with every network, written from its config."""

from __future__ import annotations

import json

from ssmhub.network.config import Accuracy, NetworkConfig


def _card_metrics(config: NetworkConfig) -> str:
    """Training and accuracy in words and one table; the loss by epoch stays in config.json."""
    metrics = config.metrics
    lines = []
    source = config.imported_from
    if source is not None:
        lines.append(
            f"Imported with `ssmhub import` from the {source.format.upper()} file "
            f"`{source.file}` (sha256 `{source.sha256}`), not trained by ssmhub: its training "
            "data are unknown, so the recipe in `config.json` is a stand-in (the box above, "
            f"ssm-simulators' {config.recipe.max_rt:g} s horizon)"
            + (
                ", and its accuracy is unknown until `ssmhub evaluate` measures it."
                if config.accuracy is None
                else "."
            )
        )
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


def _choices(config: NetworkConfig) -> str:
    """An mnle's choices in output order (a binary network's are the spec's lower/upper)."""
    if config.choices is None:
        return ""
    return f" Choices, in output order: {', '.join(map(str, config.choices))}."


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
output: {config.output}; layers {list(config.hidden)} with {config.activation}.{_choices(config)}

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
