"""A network directory on disk: its files, and writing, reading and checking them.

``weights.safetensors`` holds plain arrays (loading never runs code from the file),
``config.json`` the `NetworkConfig`, ``README.md`` the model card (`ssmhub.network.names`).
A LAN's correction network (`ssmhub.correction`) is stored beside its layers as
``correction.layers.*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ssmhub.errors import SsmhubError
from ssmhub.network.card import model_card
from ssmhub.network.config import NetworkConfig
from ssmhub.network.loaded import Network
from ssmhub.network.names import CARD, CONFIG, CORRECTION, WEIGHTS
from ssmhub.recipe import NetworkKind
from ssmhub.spec import ModelSpec

if TYPE_CHECKING:
    import numpy as np

    from ssmhub.network.mlp import Layers


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


def shipped_network(package: str, kind: NetworkKind) -> Path | None:
    """A network shipped as package data at ``<package>/networks/<kind>/``, if there is one.

    Plugins call this from their ``locate_network`` hook to offer their trained networks.
    """
    from importlib.resources import files

    path = Path(str(files(package) / "networks" / kind))
    return path if (path / CONFIG).is_file() else None
