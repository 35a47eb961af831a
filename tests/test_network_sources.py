"""Which copy of a network is used, and the provenance that names it.

A cached copy that is not an explicit pull never overrides the network the installed
plugin ships (a stale cache after a plugin upgrade); an explicit ``ssmhub pull`` does, and
the network's provenance names the registry repo and commit. The registry is the loopback
Hub of ``hub_server.py``; the networks are the ddm plugin's own, one with shifted weights.
"""

from __future__ import annotations

import shutil
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import typer
from hub_server import serve
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

import ssmhub
from ssmhub.files import sha256_of
from ssmhub.network import WEIGHTS, shipped_network
from ssmhub.settings import cache_dir

REPO = "ssmhub-test/networks"
DDM = f"ssmhub-ddm {version('ssmhub-ddm')}"

# huggingface_hub's own LFS upload passes a file object as `data=`; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def shipped() -> Path:
    path = shipped_network("ssmhub_ddm", "lan")
    assert path is not None, "the ddm plugin ships a LAN"
    return path


@pytest.fixture
def other(shipped, tmp_path) -> Path:
    """The shipped LAN with its output shifted: a valid network with other weights."""
    out = tmp_path / "other-lan"
    shutil.copytree(shipped, out)
    tensors = load_file(out / WEIGHTS)
    last = max(k for k in tensors if k.startswith("layers.") and k.endswith(".bias"))
    tensors[last] = tensors[last] + np.float32(0.25)
    save_file(tensors, out / WEIGHTS, metadata={"format": "ssmhub-mlp"})
    return out


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with serve(monkeypatch, tmp_path / "hf-home") as server:
        yield server


def networks_table() -> str:
    import ssmhub_registry

    app = typer.Typer()
    ssmhub_registry.register_commands(app)
    result = CliRunner().invoke(app, ["networks"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_a_stale_cached_copy_does_not_override_the_plugins_network(shipped, other, monkeypatch):
    shutil.copytree(other, cache_dir("ddm", "lan"))  # left there by hand, or by an old ssmhub
    network = ssmhub.load_network("ddm", "lan")
    assert network.weights_sha256 == sha256_of(shipped / WEIGHTS)
    record = network.provenance()
    assert (record["source"], record["plugin"], record["model_plugin"]) == ("plugin", DDM, DDM)
    assert record["ssmhub_version"] == version("ssmhub")

    table = networks_table()
    assert f"ddm │ lan │ yes │ plugin │ shipped by {DDM}" in table
    passed_over = "ddm │ lan │ no │ cache │ differs from the plugin's and was not pulled explicitly"
    assert passed_over in table

    # Where the plugin ships none, the cached copy is the one there is.
    import ssmhub_ddm

    monkeypatch.setattr(ssmhub_ddm, "shipped_network", lambda package, kind: None)
    network = ssmhub.load_network("ddm", "lan")
    assert network.weights_sha256 == sha256_of(other / WEIGHTS)
    assert network.provenance()["source"] == "cache"
    assert "ddm │ lan │ yes │ cache │ no plugin ships one" in networks_table()


def test_an_explicit_pull_overrides_the_plugin_and_names_its_repo_and_commit(
    hub, shipped, other, monkeypatch
):
    from ssmhub_registry.publish import publish
    from ssmhub_registry.pull import pull

    published = publish(other, REPO)
    # Fetched on demand (as the registry's locate_network does): not the user's choice.
    pull("ddm", "lan", REPO, explicit=False)
    assert ssmhub.load_network("ddm", "lan").weights_sha256 == sha256_of(shipped / WEIGHTS)
    assert "ddm │ lan │ no │ registry │ differs from the plugin's" in networks_table()

    result = pull("ddm", "lan", REPO)  # ssmhub pull: the same files, now chosen
    assert not result.downloaded
    network = ssmhub.load_network("ddm", "lan")
    assert network.weights_sha256 == sha256_of(other / WEIGHTS)
    record = network.provenance()
    assert record["source"] == "registry"
    assert (record["repo"], record["revision"]) == (REPO, published.commit)
    assert (record["version"], record["explicit_pull"]) == ("v1", True)
    assert record["path"] == str(cache_dir("ddm", "lan").resolve())

    table = networks_table()
    assert "ddm │ lan │ yes │ registry │ pulled explicitly (ssmhub pull): outranks" in table
    assert "ddm │ lan │ no │ plugin │ differs from the explicitly pulled copy" in table

    # A record that no longer matches its weights is no record: the plugin's network wins.
    shutil.copyfile(shipped / WEIGHTS, cache_dir("ddm", "lan") / WEIGHTS)
    assert ssmhub.load_network("ddm", "lan").provenance()["source"] == "plugin"
