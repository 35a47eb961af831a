"""The model card published with each artifact, so the Hub page says what the network is.

Metadata (``library_name: ssmhub``, tags, license, the artifact's coordinates) goes through
``huggingface_hub.ModelCardData``, so the Hub indexes it; the body gives the recipe, the
training box, the accuracy table and how to pull and load the network.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from ssmhub.network import NetworkConfig
    from ssmhub_registry.index import Artifact

LICENSE = "mit"


def model_card(config: NetworkConfig, artifact: Artifact, repo: str) -> ModelCard:
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        library_name="ssmhub",
        license=LICENSE,
        tags=["ssm", config.kind, config.model],
        ssmhub={
            "model": config.model,
            "kind": config.kind,
            "version": artifact.version,
            "requires_ssmhub": artifact.requires_ssmhub,
            "plugin": f"{artifact.plugin.distribution}=={artifact.plugin.version}",
        },
    )
    what = (
        "likelihood approximation network (LAN)"
        if config.kind == "lan"
        else "choice probability network (CPN)"
    )
    box = "\n".join(f"| {n} | {lo:g} | {hi:g} |" for n, (lo, hi) in config.box.items())
    body = f"""
# {config.model} {config.kind.upper()} {artifact.version}

A {what} for the `{config.model}` sequential sampling model, trained with ssmhub and
published to the `{repo}` registry. Inputs, one row per trial:
`{", ".join(config.inputs)}`; output: {config.output}. Layers {list(config.hidden)} with
{config.activation}.

## Accuracy

{artifact.accuracy.markdown()}

## Training box

Parameters outside it are extrapolation: ssmhub refuses them unless asked not to.

| parameter | lower | upper |
| --- | --- | --- |
{box}

## Recipe

Regenerate the training data with this recipe and `{artifact.plugin.distribution}`
{artifact.plugin.version} (recipe sha256 `{config.recipe_sha256}`):

```json
{json.dumps(config.recipe.model_dump(mode="json"), indent=2)}
```

Training settings: `{config.settings.model_dump_json()}`.

## Use

```console
pip install "ssmhub{artifact.requires_ssmhub}" ssmhub-registry {artifact.plugin.distribution}
ssmhub pull {config.model} --kind {config.kind} --repo {repo} --version {artifact.version}
```

```python
import ssmhub

net = ssmhub.load_network("{config.model}", "{config.kind}")
```

Every file's sha256 is listed in the registry's `index.json` and checked on pull.
"""
    return ModelCard("---\n" + data.to_yaml() + "\n---\n" + body)
