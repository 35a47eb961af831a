"""`ssmhub import`: LANs in the reference toolbox's ONNX contract become network directories.

The networks here are tiny and random (no training): what is checked is that the imported
network computes what the file computes, not that it is a good likelihood.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest
import typer
from cached_networks import use_cached_networks
from conftest import RACE3_SOURCE, run_cli
from typer.testing import CliRunner

import ssmhub
from ssmhub import Recipe
from ssmhub.errors import ChoicesError, SsmhubError
from ssmhub.network import CARD, NetworkConfig, save_network
from ssmhub.trainer import TrainSettings
from ssmhub_registry.onnx_import import import_onnx, parse_box

PARAMS = ("v", "a", "z", "t")
INPUTS = (*PARAMS, "rt", "response")
D = len(INPUTS)


def rows(n: int = 64, seed: int = 0) -> np.ndarray:
    """Random ddm input rows [v, a, z, t, rt, response] with rt > t, inside the spec."""
    rng = np.random.default_rng(seed)
    x = rng.uniform([-3, 0.3, 0.1, 0, 0, -1], [3, 2.5, 0.9, 1, 4, 1], size=(n, D))
    x[:, 4] = x[:, 3] + 0.05 + x[:, 4]
    x[:, 5] = np.where(x[:, 5] > 0, 1.0, -1.0)
    return x.astype(np.float32)


def random_layers(sizes: list[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layers (kernel (in, out), bias (out,)) in ssmhub's layout."""
    rng = np.random.default_rng(seed)
    return [
        (
            (rng.normal(size=(n_in, n_out)) / np.sqrt(n_in)).astype(np.float32),
            rng.normal(size=n_out).astype(np.float32),
        )
        for n_in, n_out in itertools.pairwise(sizes)
    ]


def tiny_lan(out: Path, hidden: tuple[int, ...] = (8, 8)) -> Path:
    """A ddm LAN directory with random weights that sees rt (so it exports to ONNX)."""
    spec = ssmhub.get_model("ddm")
    box = {p.name: (p.lower, p.upper) for p in spec.parameters}
    recipe = Recipe(kind="lan", box=box)
    config = NetworkConfig(
        model="ddm",
        kind="lan",
        parameter_names=PARAMS,
        non_decision_time="t",
        inputs=INPUTS,
        output="log_likelihood",
        hidden=hidden,
        box=box,
        recipe=recipe,
        recipe_sha256=recipe.digest(),
        data_manifest_sha256="",
        settings=TrainSettings(hidden=hidden, rt_feature="rt"),
        versions={},
    )
    save_network(out, config, random_layers([D, *hidden, 1]))
    return out


def invoke(*args: str) -> typer.testing.Result:
    """The registry's commands, in this process."""
    import ssmhub_registry

    app = typer.Typer()
    ssmhub_registry.register_commands(app)
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def exported(tmp_path) -> tuple[Path, Path]:
    """A tiny ddm LAN and the ONNX file `ssmhub export` writes of it."""
    source = tiny_lan(tmp_path / "source")
    onnx_file = tmp_path / "ddm.onnx"
    result = invoke("export", "ddm", "--network", str(source), "-o", str(onnx_file))
    assert result.exit_code == 0, result.output
    return source, onnx_file


def torch_layout(
    sizes: list[int], *, op: str = "Tanh", gemm: dict | None = None, width: int | None = None
):
    """A graph as torch.onnx.export writes an nn.Sequential of Linear and Tanh: weights
    (out, in) with transB=1, a dynamic batch dimension, names like "/net/net.0/Gemm"."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, current = [], [], "input"
    layers = random_layers(sizes, seed=1)
    for i, (kernel, bias) in enumerate(layers):
        inits += [
            numpy_helper.from_array(np.ascontiguousarray(kernel.T), f"net.{2 * i}.weight"),
            numpy_helper.from_array(bias, f"net.{2 * i}.bias"),
        ]
        last = i == len(layers) - 1
        out = "output" if last else f"/net/net.{2 * i}/Gemm_output_0"
        attrs = {"alpha": 1.0, "beta": 1.0, "transB": 1} | (gemm or {})
        nodes.append(
            helper.make_node(
                "Gemm",
                [current, f"net.{2 * i}.weight", f"net.{2 * i}.bias"],
                [out],
                name=f"/net/net.{2 * i}/Gemm",
                **attrs,
            )
        )
        current = out
        if not last:
            current = f"/net/net.{2 * i + 1}/{op}_output_0"
            nodes.append(helper.make_node(op, [out], [current], name=f"/net/net.{2 * i + 1}/{op}"))
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", width or sizes[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch"
    )
    model.producer_version = "2.5.0"
    model.ir_version = 8
    return model


def write(model, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


# -- what an imported network computes -------------------------------------------------------


def test_export_then_import_gives_the_same_network(exported, tmp_path, monkeypatch):
    import pymc as pm

    from ssmhub.pymc import SSM

    source, onnx_file = exported
    home = tmp_path / "home"
    out = home / "networks" / "ddm" / "lan"  # straight into the cache, where SSM finds it
    result = invoke("import", str(onnx_file), "--model", "ddm", "--kind", "lan", "--out", str(out))
    assert result.exit_code == 0, result.output
    said = flat(result.output)
    assert "input (1, 6) = [v, a, z, t, rt, response], hidden [8, 8]" in said
    digest = hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert digest in said
    assert f"ssmhub evaluate {out}" in said

    x = rows()
    want = np.asarray(ssmhub.load_network("ddm", "lan", source)(x))
    imported = ssmhub.load_network("ddm", "lan", out)
    np.testing.assert_allclose(np.asarray(imported(x)), want, rtol=1e-6, atol=1e-6)
    c = imported.config
    assert (c.hidden, c.settings.rt_feature, c.non_decision_time) == ((8, 8), "rt", "t")
    assert c.box == {p.name: (p.lower, p.upper) for p in ssmhub.get_model("ddm").parameters}
    assert c.recipe.box == c.box
    assert c.recipe_sha256 == c.recipe.digest()
    assert c.imported_from is not None
    assert (c.imported_from.file, c.imported_from.sha256) == ("ddm.onnx", digest)
    assert c.imported_from.producer_name == "ssmhub-registry"
    assert set(c.versions) >= {"ssmhub", "onnx"}
    card = flat((out / CARD).read_text())
    assert (
        f"Imported with `ssmhub import` from the ONNX file `ddm.onnx` (sha256 `{digest}`)" in card
    )
    assert "stand-in" in card
    assert "accuracy is unknown until `ssmhub evaluate`" in card

    # The model's `lan` likelihood uses it: the same log-likelihoods through PyMC.
    use_cached_networks(monkeypatch, home, kinds=("lan", "cpn"))
    theta = {"v": 0.7, "a": 1.4, "z": 0.45, "t": 0.3}
    trials = rows(16, seed=3)[:, 4:].astype(np.float64)
    trials[:, 0] += theta["t"]
    rv = SSM.dist("ddm", "lan", **theta)
    got = pm.logp(rv, trials).eval()
    x = np.column_stack([np.tile(list(theta.values()), (16, 1)), trials]).astype(np.float32)
    np.testing.assert_allclose(got, np.asarray(imported(x)), rtol=1e-5, atol=1e-5)


def test_torch_layout_computes_what_onnxruntime_computes(tmp_path):
    import onnxruntime

    onnx_file = write(torch_layout([D, 16, 8, 1]), tmp_path / "torch.onnx")
    box = parse_box(["v=-2.5,2.5", " t = 0.1, 1.5"], ssmhub.get_model("ddm"))
    result = import_onnx(onnx_file, "ddm", tmp_path / "net", box)
    assert result.config.hidden == (16, 8)
    assert result.config.box["v"] == (-2.5, 2.5)
    assert result.config.box["t"] == (0.1, 1.5)
    assert result.config.box["a"] == (0.3, 2.5)  # the spec's bounds
    source = result.config.imported_from
    assert source is not None
    assert (source.producer_name, source.producer_version) == ("pytorch", "2.5.0")

    x = rows()
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": x})[0][:, 0]
    got = np.asarray(ssmhub.load_network("ddm", "lan", tmp_path / "net")(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# -- refusals ----------------------------------------------------------------------------------


def test_an_operator_outside_the_contract_is_refused_by_name(tmp_path):
    onnx_file = write(torch_layout([D, 8, 1], op="Relu"), tmp_path / "relu.onnx")
    with pytest.raises(SsmhubError, match=r"node '/net/net\.1/Relu' is a Relu; only Gemm and Tanh"):
        import_onnx(onnx_file, "ddm", tmp_path / "net")
    assert not (tmp_path / "net").exists()


def test_an_input_of_the_wrong_width_is_refused(tmp_path):
    onnx_file = write(torch_layout([D + 1, 8, 1]), tmp_path / "wide.onnx")
    with pytest.raises(SsmhubError) as info:
        import_onnx(onnx_file, "ddm", tmp_path / "net")
    message = str(info.value)
    assert str(onnx_file) in message
    assert "expected (1, 6) or (N, 6), laid out [v, a, z, t, rt, response]" in message
    assert "found D = 7" in message


@pytest.mark.parametrize(
    ("gemm", "sizes", "rule"),
    [
        ({"transA": 1}, [D, 8, 1], "has transA=1"),
        ({"alpha": 0.5}, [D, 8, 1], "has alpha=0.5; it must be 1"),
        ({"beta": 2.0}, [D, 8, 1], "has beta=2; it must be 1"),
        ({}, [D, 8, 3], "the last Gemm gives 3 values"),
    ],
)
def test_gemms_outside_the_contract_are_refused(tmp_path, gemm, sizes, rule):
    onnx_file = write(torch_layout(sizes, gemm=gemm), tmp_path / "x.onnx")
    with pytest.raises(SsmhubError, match=rule):
        import_onnx(onnx_file, "ddm", tmp_path / "net")


def test_chains_that_break_the_contract_are_refused(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    model = torch_layout([D, 8, 4, 1])
    graph = model.graph
    # Gemm straight after Gemm: drop the first Tanh and wire its input on.
    tanh = graph.node[1]
    graph.node[2].input[0] = tanh.input[0]
    graph.node.remove(tanh)
    with pytest.raises(SsmhubError, match=r"comes right after Gemm '/net/net\.0/Gemm'"):
        import_onnx(write(model, tmp_path / "a.onnx"), "ddm", tmp_path / "net")

    # A Tanh last, and a Tanh that feeds the input back (a cycle).
    model = torch_layout([D, 8, 1])
    model.graph.node[1].output[0] = "output"
    model.graph.node.pop()
    with pytest.raises(SsmhubError, match="the output comes from Tanh"):
        import_onnx(write(model, tmp_path / "e.onnx"), "ddm", tmp_path / "net")
    model = torch_layout([D, 8, 1])
    model.graph.node[1].output[0] = "input"
    with pytest.raises(SsmhubError, match="the graph has a cycle"):
        import_onnx(write(model, tmp_path / "f.onnx"), "ddm", tmp_path / "net")

    # Weights that do not chain: a layer of 8 outputs feeding one that takes 5.
    model = torch_layout([D, 8, 1])
    model.graph.initializer[2].CopyFrom(
        numpy_helper.from_array(np.ones((1, 5), np.float32), "net.2.weight")
    )
    with pytest.raises(SsmhubError, match="shapes do not chain: layer 1"):
        import_onnx(write(model, tmp_path / "b.onnx"), "ddm", tmp_path / "net")

    # Integer weights, and weights computed rather than stored.
    model = torch_layout([D, 8, 1])
    model.graph.initializer[0].CopyFrom(
        numpy_helper.from_array(np.ones((8, D), np.int32), "net.0.weight")
    )
    with pytest.raises(SsmhubError, match="is INT32; float32 or float64 expected"):
        import_onnx(write(model, tmp_path / "c.onnx"), "ddm", tmp_path / "net")
    model = torch_layout([D, 8, 1])
    model.graph.input.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, [8, D]))
    model.graph.node[0].input[1] = "extra"
    with pytest.raises(SsmhubError, match="one input expected, found 2"):
        import_onnx(write(model, tmp_path / "d.onnx"), "ddm", tmp_path / "net")
    assert not (tmp_path / "net").exists()


def test_a_model_with_three_choices_is_refused(plugin_dists, tmp_path):
    plugin_dists.add("ssmhub-race3", RACE3_SOURCE)
    onnx_file = write(torch_layout([8, 8, 1]), tmp_path / "race3.onnx")
    with pytest.raises(ChoicesError, match="'race3' has 3 choices"):
        import_onnx(onnx_file, "race3", tmp_path / "net")


def test_an_existing_out_is_refused_and_an_empty_one_is_filled(exported, tmp_path):
    _, onnx_file = exported
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(SsmhubError, match="exists and is not an empty directory"):
        import_onnx(onnx_file, "ddm", taken)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    import_onnx(onnx_file, "ddm", empty)
    assert sorted(p.name for p in empty.iterdir()) == [
        "README.md",
        "config.json",
        "weights.safetensors",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no leftovers


@pytest.mark.parametrize(
    ("item", "rule"),
    [
        ("v", "expected NAME=LO,HI"),
        ("v=1", "expected NAME=LO,HI"),
        ("q=0,1", "model 'ddm' has no parameter 'q'; its parameters are v, a, z, t"),
        ("v=a,b", "LO and HI must be numbers"),
        ("v=2,1", "needs finite LO < HI"),
        ("v=-5,1", r"reaches outside the bounds of v in model 'ddm', \[-3, 3\]"),
    ],
)
def test_box_options_are_checked(item, rule):
    with pytest.raises(SsmhubError, match=f"--box '{item}': {rule}"):
        parse_box([item], ssmhub.get_model("ddm"))


# -- the command -------------------------------------------------------------------------------


def test_the_command_imports_and_refuses_in_one_line(exported, tmp_path):
    _, onnx_file = exported
    out = tmp_path / "imported"
    done = run_cli(
        "import", str(onnx_file), "--model", "ddm", "--out", str(out), "--box", "a=0.5,2"
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}: ddm lan imported from {onnx_file}" in flat(done.stdout)
    assert "a [0.5, 2]" in done.stdout
    assert ssmhub.load_network("ddm", "lan", out).config.box["a"] == (0.5, 2.0)

    bad = tmp_path / "notes.onnx"
    bad.write_text("not a network\n")
    refused = run_cli("import", str(bad), "--model", "ddm", "--out", str(tmp_path / "x"))
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert refused.stderr.count("error:") == 1, refused.stderr  # one message, no more
    assert f"error: {bad}: not an ONNX model" in flat(refused.stderr)

    cpn = invoke("import", str(onnx_file), "--model", "ddm", "--kind", "cpn", "--out", "x")
    assert cpn.exit_code != 0
    assert "the one kind is lan" in flat(str(cpn.exception))
