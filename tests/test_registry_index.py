"""The registry's pieces that need no Hub: the index schema, settings, error translation."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_DDM_SOURCE

from ssmhub_registry import hub, settings
from ssmhub_registry.errors import (
    HubUnavailableError,
    IndexSchemaError,
    OfflineError,
    RegistryError,
)
from ssmhub_registry.index import SCHEMA_VERSION, RegistryIndex, parse_index
from ssmhub_registry.publish import requires_ssmhub
from ssmhub_registry.pull import check_compatible

SHA = "ab" * 32


def artifact(version: str = "v1", commit: str | None = None, **changes) -> dict:
    return {
        "model": "ddm",
        "kind": "lan",
        "version": version,
        "commit": commit,
        "published_at": "2026-01-01T00:00:00Z",
        "files": [
            {"name": "config.json", "sha256": SHA, "size": 10},
            {"name": "weights.safetensors", "sha256": SHA, "size": 20},
        ],
        "parameter_names": ["v", "a", "z", "t"],
        "box": {"v": [-3, 3], "a": [0.3, 2.5], "z": [0.1, 0.9], "t": [0, 2]},
        "recipe_sha256": SHA,
        "accuracy": {
            "reference": "exact",
            "unit": "nats",
            "median_abs_error": 0.01,
            "p90_abs_error": 0.05,
            "p99_abs_error": 0.2,
            "n_parameter_sets": 200,
            "n_trials_per_set": 100,
            "seed": 0,
        },
        "requires_ssmhub": ">=0.1.0,<0.2",
        "plugin": {"distribution": "ssmhub-ddm", "version": "0.1.0"},
        **changes,
    }


def index_text(*artifacts: dict, schema_version: object = SCHEMA_VERSION) -> str:
    return json.dumps({"schema_version": schema_version, "artifacts": list(artifacts)})


def test_index_round_trips_and_finds_versions():
    index = parse_index(index_text(artifact("v1", "c" * 40), artifact("v2")), "index.json")
    assert parse_index(index.dumps(), "again") == index
    assert index.find("ddm", "lan").version == "v2"  # the newest by default
    assert index.find("ddm", "lan", "v1").commit == "c" * 40
    assert index.find("ddm", "cpn") is None
    assert index.find("ddm", "lan", "v3") is None
    assert index.next_version("ddm", "lan") == "v3"
    assert index.next_version("angle", "lan") == "v1"
    assert index.find("ddm", "lan").accuracy.n_parameter_sets == 200
    filled = index.with_commits({"ddm/lan/v2": "d" * 40})
    assert [a.commit for a in filled.artifacts] == ["c" * 40, "d" * 40]


def test_future_schema_version_fails_clearly():
    with pytest.raises(IndexSchemaError, match=r"schema_version 2 is newer .* pip install -U"):
        parse_index(index_text(artifact(), schema_version=2), "https://hub/index.json")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        (index_text(artifact(), artifact()), "listed twice"),
        (index_text(artifact(files=[])), "files"),
        (index_text(artifact(version="../x")), "version"),
        (index_text(artifact(requires_ssmhub="newest")), "not a version specifier"),
        (index_text(artifact(commit="main")), "commit"),
        (index_text(artifact(accuracy={"unit": "nats"})), "accuracy"),
        (json.dumps({"artifacts": [], "extra": 1}), "extra"),
    ],
    ids=[
        "json",
        "array",
        "duplicate",
        "no-files",
        "bad-version",
        "specifier",
        "commit",
        "acc",
        "x",
    ],
)
def test_malformed_index_names_the_source(text, message):
    with pytest.raises(IndexSchemaError, match=message) as caught:
        parse_index(text, "https://hub/reg/index.json")
    assert "https://hub/reg/index.json" in str(caught.value)


def test_empty_index_is_valid():
    assert RegistryIndex().dumps().startswith('{\n  "schema_version": 1')


def test_offline_and_repo_settings(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SSMHUB_REGISTRY", raising=False)
    assert settings.offline_reason() is None
    monkeypatch.setenv("SSMHUB_OFFLINE", "true")
    assert settings.offline_reason() == "SSMHUB_OFFLINE=true"
    with pytest.raises(OfflineError, match="SSMHUB_OFFLINE=true"):
        hub.check_online("pull")
    with pytest.raises(RegistryError, match="--repo OWNER/NAME or set SSMHUB_REGISTRY"):
        settings.require_repo(None)
    with pytest.raises(RegistryError, match="not a Hub repo id"):
        settings.require_repo("just-a-name")
    monkeypatch.setenv("SSMHUB_REGISTRY", "org/nets")
    assert settings.require_repo(None) == "org/nets"


def test_locate_network_stays_quiet_without_a_registry(monkeypatch):
    import ssmhub
    from ssmhub_registry import locate_network

    spec = ssmhub.get_model("ddm")
    monkeypatch.delenv("SSMHUB_REGISTRY", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert locate_network(spec, "lan") is None
    monkeypatch.setenv("SSMHUB_REGISTRY", "org/nets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert locate_network(spec, "lan") is None  # offline: never a request, never an error


def test_load_network_offline_says_how_to_pull(monkeypatch, plugin_dists):
    import ssmhub
    from ssmhub.errors import SsmhubError

    plugin_dists.add("tinyplug", TINY_DDM_SOURCE)  # a model that ships no networks
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SsmhubError) as caught:
        ssmhub.load_network("tinyddm", "cpn")
    message = " ".join(str(caught.value).split())
    assert "ssmhub train" in message
    assert "offline (HF_HUB_OFFLINE=1)" in message
    assert "ssmhub pull tinyddm --kind cpn" in message
    assert "SSMHUB_HOME" in message


def test_required_ssmhub_range():
    assert requires_ssmhub("0.1.0") == ">=0.1.0,<0.2"
    assert requires_ssmhub("1.4.2") == ">=1.4.2,<2"
    index = parse_index(index_text(artifact(requires_ssmhub=">=99")), "index.json")
    with pytest.raises(RegistryError, match=r"needs ssmhub>=99 .* --version"):
        check_compatible(index.artifacts[0])


def test_retries_then_reports_the_url(monkeypatch):
    import httpx2

    monkeypatch.setenv("SSMHUB_HUB_RETRIES", "3")
    monkeypatch.setenv("SSMHUB_HUB_BACKOFF", "0")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise httpx2.ConnectError("refused")
        return "ok"

    assert hub.call("fetch", "http://hub/x", flaky) == "ok"
    calls.clear()

    def down():
        calls.append(1)
        raise httpx2.ReadTimeout("slow")

    with pytest.raises(HubUnavailableError, match=r"http://hub/x failed \(ReadTimeout\)"):
        hub.call("fetch", "http://hub/x", down)
    assert len(calls) == 3

    def broken():
        raise KeyError("a bug, not the network")

    with pytest.raises(KeyError):
        hub.call("fetch", "http://hub/x", broken)
