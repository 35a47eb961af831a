"""The Hub registry end to end: publish, pull, integrity, offline use and failures.

The real ``huggingface_hub`` client talks HTTP to the fake Hub of ``hub_server.py`` on
127.0.0.1; nothing reaches the internet. One tiny LAN is trained and evaluated per module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from conftest import run_cli
from hub_server import serve

import ssmhub
from ssmhub import Recipe
from ssmhub.errors import SsmhubError
from ssmhub.network import CARD, CONFIG, PULL_RECORD, WEIGHTS, Network, read_network
from ssmhub.settings import cache_dir
from ssmhub_registry import publish as publish_module
from ssmhub_registry.errors import (
    HubUnavailableError,
    IntegrityError,
    NotPublishedError,
    OfflineError,
    PublishConflictError,
    PublishRefusedError,
    RegistryError,
)
from ssmhub_registry.index import INDEX, parse_index
from ssmhub_registry.publish import publish
from ssmhub_registry.pull import pull

REPO = "ssmhub-test/networks"
ROWS = (
    np.random.default_rng(0)
    .uniform([-3, 0.3, 0.1, 0, 0.01, -1], [3, 2.5, 0.9, 2, 5, 1], size=(64, 6))
    .astype(np.float32)
)
ROWS[:, 5] = np.where(ROWS[:, 5] > 0, 1.0, -1.0)

pytestmark = [
    pytest.mark.slow,
    # huggingface_hub's own LFS upload passes a file object as `data=`; not ours to fix.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny ddm LAN, trained on exact labels and evaluated, as `ssmhub evaluate` leaves it."""
    from dask.distributed import LocalCluster

    from ssmhub.evaluation import evaluate
    from ssmhub.generate import generate
    from ssmhub.trainer import TrainSettings
    from ssmhub.training import train

    data, out = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("run")
    recipe = Recipe(
        kind="lan",
        estimator="exact",
        n_parameter_sets=4,
        shard_size=2,
        n_simulations=200,
        n_training_points=100,
    )
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        generate("ddm", "lan", data, recipe, scheduler=cluster.scheduler_address)
    # rt as is: the ONNX contract's Gemm/Tanh graph cannot take log(rt - t).
    train(data, out, TrainSettings(hidden=(8, 8), epochs=1, batch_size=64, rt_feature="rt"))
    evaluate(out, n_parameter_sets=3, n_trials=20, plot=False)
    return out


@pytest.fixture
def run_v2(run_dir, tmp_path):
    """Another valid, evaluated network of the same model: the first with shifted weights."""
    from safetensors.numpy import load_file, save_file

    out = tmp_path / "run-v2"
    shutil.copytree(run_dir, out)
    tensors = load_file(out / WEIGHTS)
    last = max(k for k in tensors if k.endswith(".bias"))
    tensors[last] = tensors[last] + np.float32(0.25)
    save_file(tensors, out / WEIGHTS, metadata={"format": "ssmhub-mlp"})
    return out


@pytest.fixture(autouse=True)
def no_shipped_networks(monkeypatch):
    """The ddm plugin may ship networks; here only the cache and the registry have any."""
    import ssmhub_ddm

    monkeypatch.setattr(ssmhub_ddm, "shipped_network", lambda package, kind: None)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with serve(monkeypatch, tmp_path / "hf-home") as server:
        yield server


def outputs(path: Path | None = None) -> np.ndarray:
    return np.asarray(ssmhub.load_network("ddm", "lan", path)(ROWS))


def use_home(monkeypatch, home: Path) -> Path:
    monkeypatch.setenv("SSMHUB_HOME", str(home))
    return home


def flat(text: str) -> str:
    return " ".join(text.split())


# -- publish and pull --------------------------------------------------------------------


def test_publish_then_pull_gives_identical_files_and_outputs(hub, run_dir):
    published = publish(run_dir, REPO)
    assert published.artifact.version == "v1"
    assert hub.head(REPO) == published.commit

    # One commit holds the artifact, its card and the index; the index lists every file.
    files = hub.files(REPO, published.commit)
    assert {f"ddm/lan/v1/{n}" for n in (CONFIG, WEIGHTS, CARD)} | {INDEX} <= set(files)
    index = parse_index(files[INDEX], "index.json")
    entry = index.find("ddm", "lan")
    assert entry is not None
    assert {f.name for f in entry.files} == {CONFIG, WEIGHTS, CARD}
    assert entry.accuracy.reference == "exact"
    assert entry.plugin.distribution == "ssmhub-ddm"
    assert entry.requires_ssmhub.startswith(">=")
    card = files["ddm/lan/v1/README.md"].decode()
    assert "library_name: ssmhub" in card
    assert "- ssm" in card
    assert "| median |" in card
    assert "ssmhub pull ddm --kind lan" in card

    result = pull("ddm", "lan", REPO, revision=published.commit)
    assert result.downloaded
    assert result.path == cache_dir("ddm", "lan")
    assert result.revision == published.commit
    assert result.published_in == published.commit
    for name in (CONFIG, WEIGHTS):
        assert (result.path / name).read_bytes() == (run_dir / name).read_bytes()
    np.testing.assert_array_equal(outputs(), outputs(run_dir))

    # Every file was fetched at the pinned commit, never at a moving branch.
    resolves = [p for m, p in hub.requests if m == "GET" and "/resolve/" in p]
    assert resolves
    assert all(f"/resolve/{published.commit}/" in p for p in resolves)

    # A second pull finds the same artifact in the cache and downloads nothing.
    before = hub.count("GET", WEIGHTS)
    assert not pull("ddm", "lan", REPO).downloaded
    assert hub.count("GET", WEIGHTS) == before


def test_publishing_v2_leaves_v1_pullable_by_revision(hub, run_dir, run_v2):
    first = publish(run_dir, REPO)
    second = publish(run_v2, REPO)
    assert (first.artifact.version, second.artifact.version) == ("v1", "v2")
    assert second.parent == first.commit

    # The second publish recorded the commit that published v1.
    index = parse_index(hub.files(REPO)[INDEX], "index.json")
    assert index.find("ddm", "lan", "v1").commit == first.commit
    assert index.find("ddm", "lan", "v2").commit is None  # recorded by the next publish

    assert pull("ddm", "lan", REPO).artifact.version == "v2"
    np.testing.assert_array_equal(outputs(), outputs(run_v2))
    old = pull("ddm", "lan", REPO, revision=first.commit)
    assert old.artifact.version == "v1"
    assert old.revision == first.commit
    np.testing.assert_array_equal(outputs(), outputs(run_dir))
    assert pull("ddm", "lan", REPO, version="v2").published_in == second.commit
    assert not list(cache_dir("ddm", "lan").parent.glob(".lan.*-*"))  # no leftovers


def test_pull_on_another_machine_by_revision(hub, run_dir, tmp_path, monkeypatch):
    use_home(monkeypatch, tmp_path / "laptop")
    published = publish(run_dir, REPO)
    pull("ddm", "lan", REPO)

    cluster = use_home(monkeypatch, tmp_path / "cluster-shared")
    assert not cache_dir("ddm", "lan").exists()
    result = pull("ddm", "lan", REPO, revision=published.commit)
    assert result.path == cluster / "networks" / "ddm" / "lan"
    provenance = json.loads((result.path / PULL_RECORD).read_text())
    assert provenance["revision"] == published.commit
    assert provenance["repo"] == REPO
    np.testing.assert_array_equal(outputs(), outputs(run_dir))

    # ... and the pulled network is what ssmhub.pymc.SSM scores trials with.
    import pymc as pm

    from ssmhub.pymc import SSM

    theta = {"v": 1.0, "a": 1.5, "z": 0.5, "t": 0.3}
    trials = ssmhub.simulate("ddm", theta, n=20, seed=0)
    with pm.Model() as model:
        SSM("y", "ddm", "lan", observed=trials, **theta)
    logp = model.compile_logp(sum=False)({})[0]
    rows = np.column_stack([np.tile(list(theta.values()), (20, 1)), trials[["rt", "response"]]])
    expected = ssmhub.load_network("ddm", "lan")(rows.astype(np.float32))
    np.testing.assert_allclose(logp, expected, rtol=1e-5)


def test_locate_network_pulls_from_the_configured_registry(hub, run_dir, monkeypatch):
    publish(run_dir, REPO)
    monkeypatch.setenv("SSMHUB_REGISTRY", REPO)
    assert not cache_dir("ddm", "lan").exists()
    np.testing.assert_array_equal(outputs(), outputs(run_dir))  # found through the hook
    assert (cache_dir("ddm", "lan") / PULL_RECORD).is_file()
    # A network the registry does not list is not there: the usual "train one" error.
    with pytest.raises(SsmhubError, match="no cpn network"):
        ssmhub.load_network("ddm", "cpn")
    hub.requests.clear()
    with pytest.raises(SsmhubError, match="no cpn network"):
        ssmhub.load_network("ddm", "cpn")
    assert hub.requests == []  # not asked twice


def test_unreachable_registry_warns_and_lets_other_sources_work(hub, monkeypatch):
    from ssmhub_registry import RegistryUnavailableWarning

    monkeypatch.setenv("SSMHUB_REGISTRY", REPO)
    monkeypatch.setenv("SSMHUB_HUB_RETRIES", "2")
    hub.fail(1000)
    with (
        pytest.warns(RegistryUnavailableWarning, match=r"HTTP 500.*without the registry"),
        pytest.raises(SsmhubError, match="no lan network"),
    ):
        ssmhub.load_network("ddm", "lan")
    asked = len(hub.requests)
    with pytest.raises(SsmhubError, match="no lan network"):
        ssmhub.load_network("ddm", "lan")
    assert len(hub.requests) == asked  # the first failure is remembered


def test_pull_names_what_is_missing(hub, run_dir):
    with pytest.raises(RegistryError, match="repository not found"):
        pull("ddm", "lan", "nobody/nothing")
    publish(run_dir, REPO)
    with pytest.raises(NotPublishedError, match="lists no version v7 of ddm lan network"):
        pull("ddm", "lan", REPO, version="v7")
    with pytest.raises(RegistryError, match="no such revision"):
        pull("ddm", "lan", REPO, revision="no-such-branch")


def test_resolution_order_is_cache_then_plugin_then_registry(hub, run_dir, run_v2, monkeypatch):
    import ssmhub_ddm

    publish(run_dir, REPO)
    monkeypatch.setenv("SSMHUB_REGISTRY", REPO)
    shipped = {"lan": run_v2}
    monkeypatch.setattr(ssmhub_ddm, "shipped_network", lambda package, kind: shipped.get(kind))
    hub.requests.clear()
    np.testing.assert_array_equal(outputs(), outputs(run_v2))  # the plugin's, before the Hub
    assert hub.requests == []
    pull("ddm", "lan", REPO)
    np.testing.assert_array_equal(outputs(), outputs(run_dir))  # the cache's, before the plugin
    shipped.clear()
    shutil.rmtree(cache_dir("ddm", "lan"))
    np.testing.assert_array_equal(outputs(), outputs(run_dir))  # pulled again from the Hub


# -- integrity -----------------------------------------------------------------------------


def test_tampered_file_is_deleted_retried_then_refused(hub, run_dir):
    publish(run_dir, REPO)
    path = "ddm/lan/v1/weights.safetensors"
    good = hub.files(REPO)[path]
    hub.tamper(REPO, path)
    with pytest.raises(IntegrityError) as caught:
        pull("ddm", "lan", REPO)
    message = str(caught.value)
    assert path in message
    import hashlib

    assert hashlib.sha256(good).hexdigest() in message
    assert hashlib.sha256(bytes([good[0] ^ 0xFF]) + good[1:]).hexdigest() in message
    assert hub.count("GET", path) == 2  # deleted and fetched once more before refusing
    target = cache_dir("ddm", "lan")
    assert not target.exists()
    assert not list(target.parent.glob(".lan.*-*"))

    # Damaged once (a flaky proxy): the retry gets the right bytes.
    hub.tamper(REPO, path, times=1)
    assert pull("ddm", "lan", REPO).downloaded
    assert (target / WEIGHTS).read_bytes() == good


# -- offline -------------------------------------------------------------------------------


def test_offline_uses_the_cache_and_says_how_to_pull(hub, run_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("SSMHUB_REGISTRY", REPO)
    publish(run_dir, REPO)
    pull("ddm", "lan", REPO)
    monkeypatch.setenv("SSMHUB_OFFLINE", "1")
    hub.requests.clear()
    np.testing.assert_array_equal(outputs(), outputs(run_dir))
    with pytest.raises(OfflineError, match="the cache already holds a lan network of 'ddm'"):
        pull("ddm", "lan", REPO)

    use_home(monkeypatch, tmp_path / "empty-home")
    with pytest.raises(SsmhubError, match="no lan network"):
        ssmhub.load_network("ddm", "lan")
    with pytest.raises(OfflineError) as caught:
        pull("ddm", "lan", REPO)
    message = flat(str(caught.value))
    assert "SSMHUB_OFFLINE=1" in message
    assert f"ssmhub pull ddm --kind lan --repo {REPO}" in message
    assert "SSMHUB_HOME" in message
    with pytest.raises(OfflineError):
        publish(run_dir, REPO)
    assert hub.requests == []  # offline means no request at all


# -- concurrency and interruptions -------------------------------------------------------


def _pull_process(*args: str, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SSMHUB_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"}
    env["HF_HUB_DOWNLOAD_TIMEOUT"] = "60"  # a held download is waiting, not failing
    return subprocess.Popen(
        [sys.executable, "-m", "ssmhub.cli", "pull", "ddm", "--repo", REPO, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_two_concurrent_pulls_end_with_one_good_copy(hub, run_dir, tmp_path):
    publish(run_dir, REPO)
    home = tmp_path / "shared-home"
    weights = "v1/weights.safetensors"
    release = hub.stall(weights, method="GET")
    first, second = _pull_process(home=home), _pull_process(home=home)
    try:
        _wait_for(lambda: hub.count("GET", weights) >= 1)
        time.sleep(1.5)  # the other process reaches the lock and waits on it
        release.set()
        results = [p.communicate(timeout=120) for p in (first, second)]
    finally:
        for p in (first, second):
            p.kill()
    assert [p.returncode for p in (first, second)] == [0, 0], results
    outputs_text = " ".join(flat(out) for out, _ in results)
    assert "already in the cache" in outputs_text
    assert hub.count("GET", weights) == 1  # downloaded once, by whoever held the lock
    target = home / "networks" / "ddm" / "lan"
    assert (target / WEIGHTS).read_bytes() == (run_dir / WEIGHTS).read_bytes()
    left = sorted(p.name for p in target.parent.iterdir() if p.name != ".lan.lock")
    assert left == ["lan"]  # no second copy, no half-done folder


def test_interrupted_pull_leaves_nothing_a_loader_would_find(hub, run_dir, tmp_path, monkeypatch):
    publish(run_dir, REPO)
    home = use_home(monkeypatch, tmp_path / "home")
    weights = "v1/weights.safetensors"
    release = hub.stall(weights, method="GET")
    victim = _pull_process(home=home)
    try:
        _wait_for(lambda: hub.count("GET", weights) >= 1)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        victim.kill()
        release.set()
    target = cache_dir("ddm", "lan")
    assert not (target / CONFIG).exists()
    assert not (target / WEIGHTS).exists()
    assert list(target.parent.glob(".lan.pull-*"))  # the half-done pull is hidden aside
    with pytest.raises(SsmhubError, match="no lan network"):
        ssmhub.load_network("ddm", "lan")
    assert pull("ddm", "lan", REPO).downloaded
    assert not list(target.parent.glob(".lan.*-*"))  # and cleaned up by the next pull
    np.testing.assert_array_equal(outputs(), outputs(run_dir))


# -- server failures -----------------------------------------------------------------------


def test_server_errors_are_retried_then_reported(hub, run_dir):
    publish(run_dir, REPO)
    hub.fail(3)  # a short outage: retried with back-off
    assert pull("ddm", "lan", REPO).downloaded
    shutil.rmtree(cache_dir("ddm", "lan"))
    hub.fail(1000)  # a long one: reported
    with pytest.raises(HubUnavailableError) as caught:
        pull("ddm", "lan", REPO)
    message = str(caught.value)
    assert f"{hub.url}/api/models/{REPO}/revision/main" in message
    assert "HTTP 500" in message
    assert "try again later" in message


def test_unresponsive_server_times_out(hub, run_dir, monkeypatch):
    publish(run_dir, REPO)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "1")
    monkeypatch.setenv("SSMHUB_HUB_RETRIES", "2")
    release = hub.stall("/")
    start = time.monotonic()
    try:
        with pytest.raises(HubUnavailableError) as caught:
            pull("ddm", "lan", REPO)
    finally:
        release.set()
    assert time.monotonic() - start < 10
    assert hub.url in str(caught.value)
    assert "Timeout" in str(caught.value)


# -- publish refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "message"),
    [(None, "no accuracy report"), ({"median_abs_error": -1}, "malformed accuracy report")],
)
def test_publish_refuses_a_network_without_a_valid_accuracy_report(
    hub, run_dir, tmp_path, report, message
):
    bare = tmp_path / "bare"
    shutil.copytree(run_dir, bare)
    config = json.loads((bare / CONFIG).read_text())
    if report is None:
        del config["metrics"]["accuracy"]
    else:
        config["metrics"]["accuracy"].update(report)
    (bare / CONFIG).write_text(json.dumps(config))
    with pytest.raises(PublishRefusedError, match=f"{message}.*ssmhub evaluate"):
        publish(bare, REPO)
    assert hub.requests == []


def test_publish_refuses_an_invalid_network(hub, run_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    config = json.loads((broken / CONFIG).read_text())
    config["hidden"] = [8, 9]
    (broken / CONFIG).write_text(json.dumps(config))
    with pytest.raises(SsmhubError, match="shape"):
        publish(broken, REPO)
    assert hub.requests == []


def test_publish_never_rewrites_a_version(hub, run_dir, run_v2):
    publish(run_dir, REPO, version="v1")
    head = hub.head(REPO)
    with pytest.raises(PublishRefusedError, match="already exists"):
        publish(run_v2, REPO, version="v1")
    assert hub.head(REPO) == head


def test_concurrent_publish_fails_on_parent_commit(hub, run_dir, run_v2, monkeypatch):
    publish(run_dir, REPO)
    record = publish_module._record_commits

    def someone_else_commits_meanwhile(repo, index, head):
        hub.push(REPO, {"NOTES.md": b"a concurrent change\n"})
        return record(repo, index, head)

    monkeypatch.setattr(publish_module, "_record_commits", someone_else_commits_meanwhile)
    head = hub.head(REPO)
    with pytest.raises(PublishConflictError, match="run the command again"):
        publish(run_v2, REPO)
    assert hub.head(REPO) != head  # only the other change landed
    assert "ddm/lan/v2/config.json" not in hub.files(REPO)
    monkeypatch.setattr(publish_module, "_record_commits", record)
    assert publish(run_v2, REPO).artifact.version == "v2"  # on top of the new head


# -- the command line ----------------------------------------------------------------------


def test_cli_publish_and_pull(hub, run_dir, tmp_path):
    online = {"HF_HUB_OFFLINE": "0"}  # run_cli makes children offline unless told
    published = run_cli("publish", str(run_dir), "--repo", REPO, env=online)
    assert published.returncode == 0, published.stderr
    commit = hub.head(REPO)
    assert f"new revision {commit}" in flat(published.stdout)

    home = {**online, "SSMHUB_HOME": str(tmp_path / "other-home")}
    pulled = run_cli("pull", "ddm", "--repo", REPO, "--revision", commit, env=home)
    assert pulled.returncode == 0, pulled.stderr
    assert f"from {REPO} at commit {commit}" in flat(pulled.stdout)

    again = run_cli("publish", str(run_dir), "--repo", REPO, "--version", "v1", env=online)
    assert again.returncode == 2
    assert "already exists" in flat(again.stderr)
    assert "Traceback" not in again.stderr


# -- ONNX export ---------------------------------------------------------------------------


def test_onnx_export_computes_what_the_jax_network_computes(run_dir, tmp_path):
    import onnx
    import onnxruntime
    from typer.testing import CliRunner

    import ssmhub_registry

    app = typer.Typer()
    ssmhub_registry.register_commands(app)
    out = tmp_path / "ddm.onnx"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "ddm",
            "--kind",
            "lan",
            "--format",
            "onnx",
            "-o",
            str(out),
            "--network",
            str(run_dir),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "input (1, 6)" in flat(result.output)

    model = onnx.load(out)
    assert {node.op_type for node in model.graph.node} == {"Gemm", "Tanh"}
    (inp,) = model.graph.input
    assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 6]
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    got = np.array([session.run(None, {name: row[None, :]})[0][0, 0] for row in ROWS])
    np.testing.assert_allclose(got, outputs(run_dir), rtol=1e-5, atol=1e-5)


def test_onnx_export_refuses_a_lan_that_sees_log_decision_time(run_dir):
    from ssmhub_registry.onnx_export import lan_to_onnx

    network = read_network(run_dir)
    settings = network.config.settings.model_copy(update={"rt_feature": "log_decision_time"})
    config = network.config.model_copy(update={"settings": settings})
    with pytest.raises(SsmhubError, match="sees log\\(rt - t\\)"):
        lan_to_onnx(Network(config, network.weights))


def test_only_lans_export_to_onnx(run_dir, tmp_path):
    from ssmhub_registry.onnx_export import export_onnx

    cpn_config = json.loads((run_dir / CONFIG).read_text()) | {"kind": "cpn"}
    network = ssmhub.load_network("ddm", "lan", run_dir)
    network = type(network)(network.config.model_validate(cpn_config), network.weights)
    with pytest.raises(SsmhubError, match="only LANs"):
        export_onnx(network, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_networks_lists_the_cache_and_the_registry(hub, run_dir):
    from typer.testing import CliRunner

    import ssmhub_registry

    app = typer.Typer()
    ssmhub_registry.register_commands(app)
    runner = CliRunner()
    publish(run_dir, REPO)
    before = runner.invoke(app, ["networks"], env={"COLUMNS": "200"})
    assert before.exit_code == 0, before.output
    assert not re.search(r"│ ddm +│", before.output)  # no ddm network cached or shipped yet
    pull("ddm", "lan", REPO)
    after = runner.invoke(app, ["networks", "--remote", "--repo", REPO], env={"COLUMNS": "1000"})
    assert after.exit_code == 0, after.output
    text = flat(after.output)
    median = ssmhub.load_network("ddm", "lan", run_dir).config.accuracy.median_abs_error
    assert "ddm │ lan │ yes │ registry │ pulled explicitly (ssmhub pull)" in text
    assert f"│ v1 │ {median:.3g} nats" in text
    assert "ddm │ lan │ v1" in text
    assert f"ddm │ lan │ v1 │ {hub.head(REPO)[:12]}" in text  # the newest's commit, looked up


# -- the real Hub --------------------------------------------------------------------------


@pytest.mark.network
def test_pull_from_the_real_hub(monkeypatch):
    """Pull from a real registry: SSMHUB_TEST_REGISTRY=OWNER/NAME pytest -m network."""
    repo = os.environ.get("SSMHUB_TEST_REGISTRY")
    if not repo:
        pytest.skip("set SSMHUB_TEST_REGISTRY to a published registry repo")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    result = pull("ddm", "lan", repo)
    assert (result.path / CONFIG).is_file()
    assert ssmhub.load_network("ddm", "lan").config.model == "ddm"


def test_an_mnle_network_pulled_from_the_hub_is_used_by_ssm(hub, tmp_path, monkeypatch):
    """An MNLE travels through publish and pull unchanged, and `SSM` scores with the pulled
    copy (the cache answers first) exactly what the original scores."""
    import pymc as pm

    from ssmhub.evaluation import evaluate
    from ssmhub.generate import generate
    from ssmhub.plugins import get_manager
    from ssmhub.pymc import SSM
    from ssmhub.trainer import TrainSettings

    recipe = Recipe(kind="mnle", estimator="simulation", n_parameter_sets=200, n_simulations=10)
    generate("ddm", "mnle", tmp_path / "data", recipe, n_workers=1)
    run = tmp_path / "run"
    settings = TrainSettings(hidden=(8,), epochs=1, batch_size=500, components=2)
    get_manager().trainers()["mnle"].train(tmp_path / "data", run, settings)
    evaluate(run, n_parameter_sets=3, n_trials=20, plot=False)
    published = publish(run, REPO)
    use_home(monkeypatch, tmp_path / "elsewhere")
    result = pull("ddm", "mnle", REPO, revision=published.commit)
    assert result.path == cache_dir("ddm", "mnle")
    data = np.array([[0.9, 1.0], [1.4, -1.0], [np.nan, 1.0]])
    theta = {"v": 0.5, "a": 1.5, "z": 0.5, "t": 0.3}
    pulled = pm.logp(SSM.dist("ddm", "mnle", **theta), data).eval()
    original = read_network(run)
    expected = original.mnle_logp(
        np.array([list(theta.values())], np.float32), data[:2, 0], data[:2, 1]
    )
    np.testing.assert_allclose(pulled[:2], np.asarray(expected), rtol=1e-5)
    assert np.isfinite(pulled[2])
