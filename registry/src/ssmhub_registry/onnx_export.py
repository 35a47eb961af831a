"""Export a LAN as ONNX with the reference toolbox's network contract.

The contract (the ONNX LANs that HSSM and LANfactory exchange): one trial per call, a float32
input of shape (1, D) laid out ``[parameters..., rt, response]`` (D = number of parameters
+ 2), a (1, 1) log-likelihood out, and nothing but ``Gemm`` and ``Tanh`` nodes. The graph is
built with ``onnx.helper`` straight from the network's weights, so no deep-learning
framework is needed and the file holds plain tensors only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ssmhub.errors import SsmhubError

if TYPE_CHECKING:
    import onnx

    from ssmhub.network import Network

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10 and every toolbox release that loads LANs
INPUT, OUTPUT = "input", "output"


def lan_to_onnx(network: Network) -> onnx.ModelProto:
    """The ONNX model of a LAN: Gemm (+ Tanh) per layer, input (1, D), output (1, 1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = network.config
    if config.kind != "lan":
        raise SsmhubError(
            f"only LANs can be exported to ONNX (the toolbox contract is a per-trial "
            f"log-likelihood); the {config.model} network given is a {config.kind}"
        )
    if config.settings.rt_feature != "rt":
        raise SsmhubError(
            f"the {config.model} LAN sees log(rt - t), not rt (settings.rt_feature = "
            f"{config.settings.rt_feature!r}), which the toolbox contract's Gemm/Tanh graph "
            "cannot compute; train with `--rt-feature rt` to export to ONNX"
        )
    d = len(config.inputs)
    nodes, initializers = [], []
    current = INPUT
    n_layers = len(network.weights)
    for i, (kernel, bias) in enumerate(network.weights):
        kernel_np = np.asarray(kernel, dtype=np.float32)
        bias_np = np.asarray(bias, dtype=np.float32).reshape(-1)
        initializers += [
            numpy_helper.from_array(kernel_np, f"layers.{i}.kernel"),
            numpy_helper.from_array(bias_np, f"layers.{i}.bias"),
        ]
        last = i == n_layers - 1
        gemm_out = OUTPUT if last else f"layers.{i}.linear"
        nodes.append(
            helper.make_node(
                "Gemm",
                [current, f"layers.{i}.kernel", f"layers.{i}.bias"],
                [gemm_out],
                name=f"gemm_{i}",
            )
        )
        current = gemm_out
        if not last:
            current = f"layers.{i}.tanh"
            nodes.append(helper.make_node("Tanh", [gemm_out], [current], name=f"tanh_{i}"))
    graph = helper.make_graph(
        nodes,
        f"{config.model}_lan",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, d])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, 1])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="ssmhub-registry",
        doc_string=(
            f"{config.model} LAN: log-likelihood of one trial; input [1, {d}] laid out as "
            f"[{', '.join(config.inputs)}]"
        ),
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(
        model,
        {
            "ssmhub.model": config.model,
            "ssmhub.kind": config.kind,
            "ssmhub.inputs": ",".join(config.inputs),
            "ssmhub.recipe_sha256": config.recipe_sha256,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(network: Network, out: Path) -> Path:
    """Write ``network`` as an ONNX file at ``out`` (atomically) and return ``out``."""
    from ssmhub.files import write_atomically

    blob = lan_to_onnx(network).SerializeToString()
    write_atomically(out, lambda f: f.write(blob))
    return out
