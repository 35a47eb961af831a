"""Import a LAN from an ONNX file in the reference toolbox's network contract.

The reverse of `ssmhub_registry.onnx_export`: a file holding one trial's log-likelihood
(input (1, D) or (N, D) laid out ``[parameters..., rt, response]``, D = number of the
model's parameters + 2, one output) computed by ``Gemm`` and ``Tanh`` nodes only becomes an
ssmhub LAN network directory that computes the same function. The file is parsed as protobuf
and its tensors read as plain arrays: nothing in it is executed, and a tensor stored outside
the file (ONNX "external data") is refused rather than looked for on disk.

Such a file says nothing of the data its network was trained on, so the network's recipe is
a stand-in (`ssmhub.recipe.Recipe` with the box it is used in) and its source is recorded in
``config.imported_from``; `ssmhub evaluate` measures how accurate it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ssmhub.errors import SsmhubError

if TYPE_CHECKING:
    import onnx

    from ssmhub.network import NetworkConfig
    from ssmhub.spec import ModelSpec

# The contract's operators and the Gemm attributes a layer y = x @ kernel + bias may carry.
OPERATORS = ("Gemm", "Tanh")
GEMM_DEFAULTS = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
_ONNX_DOMAINS = ("", "ai.onnx")

Layers = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ImportResult:
    """What `import_onnx` wrote: the network directory and its config."""

    path: Path
    config: NetworkConfig


def parse_box(items: Sequence[str], spec: ModelSpec) -> dict[str, tuple[float, float]]:
    """The ``--box NAME=LO,HI`` options as a box, each checked against ``spec``'s bounds.

    Parameters not named keep the spec's bounds (see `import_onnx`).
    """
    box: dict[str, tuple[float, float]] = {}
    for item in items:
        name, sep, bounds = item.partition("=")
        name = name.strip()
        parts = bounds.split(",")
        if not sep or len(parts) != 2:
            raise SsmhubError(f"--box {item!r}: expected NAME=LO,HI, e.g. --box v=-2.5,2.5")
        if name not in spec.parameter_names:
            raise SsmhubError(
                f"--box {item!r}: model {spec.name!r} has no parameter {name!r}; its "
                f"parameters are {', '.join(spec.parameter_names)}"
            )
        if name in box:
            raise SsmhubError(f"--box {item!r}: {name} is given twice")
        try:
            lo, hi = (float(p) for p in parts)
        except ValueError:
            raise SsmhubError(f"--box {item!r}: LO and HI must be numbers") from None
        p = spec.parameter(name)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise SsmhubError(f"--box {item!r}: needs finite LO < HI")
        if lo < p.lower or hi > p.upper:
            raise SsmhubError(
                f"--box {item!r}: reaches outside the bounds of {name} in model "
                f"{spec.name!r}, [{p.lower:g}, {p.upper:g}]"
            )
        box[name] = (lo, hi)
    return box


def import_onnx(
    path: Path,
    model: str,
    out: Path,
    box: Mapping[str, tuple[float, float]] | None = None,
) -> ImportResult:
    """Write the LAN in the ONNX file ``path`` as a network directory ``out`` for ``model``.

    ``box`` narrows the parameters it names (default: the spec's bounds for every parameter);
    the network is used there only. ``out`` must not exist or be empty; it appears whole or
    not at all. Raises `SsmhubError` naming the file and the rule broken for a file outside
    the contract, and `ssmhub.errors.ChoicesError` for a model with more than two choices.
    """
    import importlib.metadata

    from ssmhub.network.config import ImportedFrom, NetworkConfig, command_line
    from ssmhub.plugins import get_manager
    from ssmhub.recipe import Recipe
    from ssmhub.trainer import TrainSettings

    manager = get_manager()
    spec = manager.catalog.get(model)
    spec.check_kind("lan")
    _check_out(out)
    try:
        recipe = Recipe(kind="lan", box=dict(box or {}))
        resolved = recipe.resolved_box(spec)
    except ValueError as exc:
        raise SsmhubError(f"box: {exc}") from None
    recipe = Recipe(kind="lan", box=resolved)

    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise SsmhubError(f"{path}: cannot read: {exc.strerror or exc}") from None
    inputs = (*spec.parameter_names, "rt", "response")
    proto = _parse(path, blob)
    layers = lan_layers(proto, path, inputs)
    hidden = tuple(int(kernel.shape[1]) for kernel, _ in layers[:-1])

    plugin = manager.records[manager.catalog.owners[spec.name]]
    config = NetworkConfig(
        model=spec.name,
        kind="lan",
        parameter_names=spec.parameter_names,
        non_decision_time=spec.non_decision_time,
        inputs=inputs,
        output="log_likelihood",
        hidden=hidden,
        box=resolved,
        recipe=recipe,
        recipe_sha256=recipe.digest(),
        data_manifest_sha256="",
        # The contract's graph sees rt as is; hidden is what the weights hold.
        settings=TrainSettings(hidden=hidden, rt_feature="rt"),
        versions={
            "ssmhub": importlib.metadata.version("ssmhub"),
            "onnx": importlib.metadata.version("onnx"),
            plugin.distribution: plugin.version,
        },
        command=command_line(),
        imported_from=ImportedFrom(
            file=path.name,
            sha256=hashlib.sha256(blob).hexdigest(),
            producer_name=proto.producer_name or None,
            producer_version=proto.producer_version or None,
        ),
    )
    _save_whole(out, config, layers)
    return ImportResult(out, config)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SsmhubError(
            f"--out {out}: exists and is not an empty directory; choose a new directory"
        )


def _save_whole(out: Path, config: NetworkConfig, layers: Layers) -> None:
    """`save_network` into a temporary directory beside ``out``, then one rename: ``out``
    holds the whole network or nothing."""
    from ssmhub.network import save_network

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        save_network(tmp, config, layers)
        mask = os.umask(0)
        os.umask(mask)
        tmp.chmod(0o777 & ~mask)  # mkdtemp makes 0700; others on a cluster must read
        try:
            tmp.rename(out)  # replaces an empty directory on POSIX
        except OSError as exc:
            raise SsmhubError(f"--out {out}: cannot write the network there: {exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _parse(path: Path, blob: bytes) -> onnx.ModelProto:
    """The file's ModelProto, parsed from its bytes (no external data is read)."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.ModelProto.FromString(blob)
    except DecodeError:
        raise SsmhubError(f"{path}: not an ONNX model (its bytes do not parse as one)") from None
    if not proto.HasField("graph") or not proto.graph.node:
        raise SsmhubError(f"{path}: not an ONNX model: it holds no graph")
    return proto


def lan_layers(proto: onnx.ModelProto, path: Path, inputs: tuple[str, ...]) -> Layers:
    """The (kernel (in, out), bias (out,)) layers of a contract graph whose input is laid out
    as ``inputs``; `SsmhubError` naming ``path`` and the rule for anything else."""
    import onnx

    def refuse(rule: str) -> SsmhubError:
        return SsmhubError(f"{path}: not a LAN in the toolbox's ONNX contract: {rule}")

    graph = proto.graph
    nodes = list(graph.node)
    names = [_node_name(node, i) for i, node in enumerate(nodes)]
    for node, name in zip(nodes, names, strict=True):
        if node.op_type not in OPERATORS or node.domain not in _ONNX_DOMAINS:
            op = node.op_type if node.domain in _ONNX_DOMAINS else f"{node.domain}.{node.op_type}"
            raise refuse(f"node {name} is a {op}; only {' and '.join(OPERATORS)} nodes are allowed")
    initializers = {t.name: t for t in graph.initializer}
    if graph.sparse_initializer:
        raise refuse("sparse initializers are not part of it")
    feeds = [i for i in graph.input if i.name not in initializers]
    if len(feeds) != 1:
        raise refuse(f"one input expected, found {len(feeds)} ({_names(feeds)})")
    if len(graph.output) != 1:
        raise refuse(f"one output expected, found {len(graph.output)} ({_names(graph.output)})")
    _check_input(feeds[0], inputs, refuse)

    layers: Layers = []
    gemms: list[str] = []  # their names, by layer
    seen: set[int] = set()  # the nodes on the chain so far
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(i)

    def only_consumer(tensor: str) -> int:
        found = consumers.get(tensor, [])
        if len(found) != 1:
            who = ", ".join(names[i] for i in found) or "no node"
            raise refuse(
                f"{tensor!r} must feed exactly one node (a chain of layers), it feeds {who}"
            )
        if found[0] in seen:
            raise refuse(f"node {names[found[0]]} is reached twice: the graph has a cycle")
        return found[0]

    output = graph.output[0].name
    current = feeds[0].name
    while True:
        g = only_consumer(current)
        if nodes[g].op_type != "Gemm":
            raise refuse(
                f"node {names[g]} ({nodes[g].op_type}) takes {current!r}, where a Gemm must: "
                "layers are Gemm, then Tanh, alternating, ending in a Gemm"
            )
        seen.add(g)
        gemms.append(names[g])
        layers.append(_gemm_layer(nodes[g], names[g], current, initializers, refuse))
        current = nodes[g].output[0]
        if current == output:
            break
        t = only_consumer(current)
        if nodes[t].op_type != "Tanh":
            raise refuse(
                f"Gemm {names[t]} comes right after Gemm {names[g]}; a Tanh must come "
                "between layers"
            )
        seen.add(t)
        if len(nodes[t].output) != 1:
            raise refuse(f"Tanh {names[t]} must have one output")
        current = nodes[t].output[0]
        if current == output:
            raise refuse(f"the output comes from Tanh {names[t]}, not from a Gemm")
    unused = [names[i] for i in range(len(nodes)) if i not in seen]
    if unused:
        raise refuse(f"node(s) {', '.join(unused)} are not on the path from input to output")

    n_in = len(inputs)
    for i, ((kernel, _), gemm) in enumerate(zip(layers, gemms, strict=True)):
        if kernel.shape[0] != n_in:
            raise refuse(
                f"shapes do not chain: layer {i} (Gemm {gemm}) takes {kernel.shape[0]} values "
                f"but {'the input has' if i == 0 else 'the layer before gives'} {n_in}"
            )
        n_in = kernel.shape[1]
    if n_in != 1:
        raise refuse(f"the last Gemm gives {n_in} values; a LAN gives one log-likelihood")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise refuse(f"the ONNX checker refuses it: {str(exc).splitlines()[0]}") from None
    return layers


def _check_input(value: onnx.ValueInfoProto, inputs: tuple[str, ...], refuse: Any) -> None:
    from onnx import TensorProto

    d = len(inputs)
    expected = f"(1, {d}) or (N, {d}), laid out [{', '.join(inputs)}]"
    kind = value.type.WhichOneof("value")
    tensor = value.type.tensor_type
    if kind != "tensor_type" or tensor.elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE):
        raise refuse(f"input {value.name!r} must be a float32 (or float64) tensor {expected}")
    if not tensor.HasField("shape"):
        raise refuse(f"input {value.name!r} has no shape; expected {expected}")
    dims = [
        dim.dim_value if dim.HasField("dim_value") else (dim.dim_param or "?")
        for dim in tensor.shape.dim
    ]
    shown = "(" + ", ".join(map(str, dims)) + ")"
    if len(dims) != 2 or dims[1] != d or dims[0] == 0:
        found = f"D = {dims[1]}" if len(dims) == 2 else f"{len(dims)} dimensions"
        raise refuse(
            f"input {value.name!r} has shape {shown}: expected {expected} (D = {d}: the "
            f"model's {d - 2} parameters, rt and response), found {found}"
        )


def _gemm_layer(
    node: onnx.NodeProto,
    name: str,
    current: str,
    initializers: Mapping[str, onnx.TensorProto],
    refuse: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """The (kernel (in, out), bias (out,)) that Gemm ``node`` applies to ``current``."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    unknown = sorted(set(attrs) - set(GEMM_DEFAULTS))
    if unknown:
        raise refuse(f"Gemm {name} has unknown attribute(s) {', '.join(unknown)}")
    attrs = GEMM_DEFAULTS | attrs
    if attrs["transA"] != 0:
        raise refuse(f"Gemm {name} has transA={attrs['transA']}; the input is not transposed")
    for key in ("alpha", "beta"):
        if attrs[key] != 1.0:
            raise refuse(f"Gemm {name} has {key}={attrs[key]:g}; it must be 1")
    if attrs["transB"] not in (0, 1):
        raise refuse(f"Gemm {name} has transB={attrs['transB']}; 0 or 1 expected")
    if len(node.input) < 2 or node.input[0] != current or len(node.output) != 1:
        raise refuse(f"Gemm {name} must take {current!r} as A and a weight tensor as B")
    b = _weight(node.input[1], name, "B", initializers, refuse)
    if b.ndim != 2:
        raise refuse(f"Gemm {name}'s weights B have shape {b.shape}; a matrix expected")
    kernel = b.T if attrs["transB"] else b  # ssmhub's layout: (in, out), x @ kernel
    n_out = kernel.shape[1]
    if len(node.input) > 2 and node.input[2]:
        c = _weight(node.input[2], name, "C", initializers, refuse)
        if c.size not in (1, n_out) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
            raise refuse(
                f"Gemm {name}'s bias C has shape {c.shape}; ({n_out},) or (1, {n_out}) "
                "expected (one value per output)"
            )
        bias = np.broadcast_to(c.reshape(-1), (n_out,))
    else:
        bias = np.zeros(n_out, kernel.dtype)
    return np.array(kernel), np.array(bias)


def _weight(
    tensor: str, node: str, role: str, initializers: Mapping[str, onnx.TensorProto], refuse: Any
) -> np.ndarray:
    from onnx import TensorProto, numpy_helper

    proto = initializers.get(tensor)
    if proto is None:
        raise refuse(
            f"Gemm {node}'s {role} ({tensor!r}) is not an initializer; weights must be "
            "constants stored in the file"
        )
    if proto.data_location == TensorProto.EXTERNAL:
        raise refuse(
            f"Gemm {node}'s {role} ({tensor!r}) is stored outside the file (external data); "
            "weights must be stored in the file"
        )
    if proto.data_type not in (TensorProto.FLOAT, TensorProto.DOUBLE):
        found = TensorProto.DataType.Name(proto.data_type)
        raise refuse(f"Gemm {node}'s {role} ({tensor!r}) is {found}; float32 or float64 expected")
    try:
        array = numpy_helper.to_array(proto)
    except (ValueError, TypeError) as exc:
        raise refuse(f"Gemm {node}'s {role} ({tensor!r}) is unreadable: {exc}") from None
    if not np.all(np.isfinite(array)):
        raise refuse(f"Gemm {node}'s {role} ({tensor!r}) holds NaN or infinite values")
    return array


def _node_name(node: onnx.NodeProto, index: int) -> str:
    """A node as a person can find it: its name, else its position in the graph."""
    return repr(node.name) if node.name else f"#{index} (unnamed)"


def _names(values: Any) -> str:
    return ", ".join(repr(v.name) for v in values) or "none"
