"""Trained networks: one module per job, their public names gathered here.

| module | its one job |
| --- | --- |
| `config` | `NetworkConfig` (config.json) and `Accuracy`; `command_line` |
| `mlp` | the tanh MLP every network computes, its input features, folding a scaling in |
| `loaded` | `Network`: a loaded network as a pure JAX function, and its provenance |
| `origin` | `Origin` (where a lookup found it) and the registry's `PullRecord` |
| `names` | the file names of a network directory |
| `directory` | `save_network`, `read_network`, `shipped_network` |
| `card` | the model card |

Finding a model's network among the cache, the plugins and the registry is the plugin
manager's (`ssmhub.plugins.PluginManager.load_network`, `ssmhub.load_network`).
"""

from typing import TYPE_CHECKING

from ssmhub.network.card import KIND_NAMES, model_card
from ssmhub.network.config import Accuracy, NetworkConfig, command_line
from ssmhub.network.directory import layer_names, read_network, save_network, shipped_network
from ssmhub.network.loaded import Network
from ssmhub.network.mlp import Weights, features, fold_scaling, mlp, mlp_outputs
from ssmhub.network.names import CARD, CONFIG, CORRECTION, PLOT, WEIGHTS
from ssmhub.network.origin import PULL_RECORD, Origin, PullRecord, read_pull_record

if TYPE_CHECKING:
    from ssmhub.network.mlp import Layers as Layers  # a type only, for NumPy layers

__all__ = [
    "CARD",
    "CONFIG",
    "CORRECTION",
    "KIND_NAMES",
    "PLOT",
    "PULL_RECORD",
    "WEIGHTS",
    "Accuracy",
    "Network",
    "NetworkConfig",
    "Origin",
    "PullRecord",
    "Weights",
    "command_line",
    "features",
    "fold_scaling",
    "layer_names",
    "mlp",
    "mlp_outputs",
    "model_card",
    "read_network",
    "read_pull_record",
    "save_network",
    "shipped_network",
]
