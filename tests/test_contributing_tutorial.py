"""docs/contributing.md, run: the tutorial's commands and files, in order, so it cannot rot.

Every ``$`` line of the page's ``console`` blocks is run with bash in an empty directory, and
every code block with a ``title="PATH"`` is written to PATH where it appears. The only
changes are the replacements in the page's own table ("How this page is tested"), each of
which must apply, plus the stand-ins the page names: a local Dask cluster's address for
``tcp://scheduler:8786`` and the fake Hub of hub_server.py for the Hugging Face Hub.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import INSTALLED_PLUGINS
from hub_server import serve

from ssmhub.plugins import PLUGINS_ENV

pytestmark = INSTALLED_PLUGINS

DOC = Path(__file__).parents[1] / "docs" / "contributing.md"
SCHEDULER = "tcp://scheduler:8786"
DISTRIBUTION = "ssmhub-ornstein-angle"
TABLE_HEADING = "## How this page is tested"

_FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
_ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \|$", re.MULTILINE)


@dataclass(frozen=True)
class Step:
    """A command to run, or a file to write (``path`` set)."""

    text: str
    path: str | None = None


def tutorial_steps(page: str) -> list[Step]:
    steps = []
    for match in _FENCE.finditer(page):
        language, attributes, body = match.groups()
        title = re.search(r'title="([^"]+)"', attributes)
        if language == "console":
            steps += [Step(line[2:]) for line in body.splitlines() if line.startswith("$ ")]
        elif title:
            steps.append(Step(body, title.group(1)))
    return steps


def replacements(page: str) -> list[tuple[str, str]]:
    return _ROW.findall(page.split(TABLE_HEADING, 1)[1])


def shrink(steps: list[Step], table: list[tuple[str, str]]) -> list[Step]:
    """The steps with every replacement of the table made; each must apply somewhere."""
    unused = {old for old, _ in table}
    shrunk = []
    for step in steps:
        text = step.text
        for old, new in table:
            if old in text:
                text = text.replace(old, new)
                unused.discard(old)
        shrunk.append(Step(text, step.path))
    assert not unused, f"replacements that apply to nothing on the page: {sorted(unused)}"
    return shrunk


def test_the_page_has_commands_files_and_replacements():
    page = DOC.read_text()
    steps = tutorial_steps(page)
    commands = [s.text for s in steps if s.path is None]
    assert commands[0].startswith("ssmhub new-plugin ornstein_angle")
    assert sum(SCHEDULER in c for c in commands) == 1
    assert [s.path for s in steps if s.path] == [
        "ornstein_angle/src/ssmhub_ornstein_angle/__init__.py",
        "fit.py",
    ]
    assert len(replacements(page)) >= 5
    shrink(steps, replacements(page))


# A real local Dask cluster, in a process of its own started once the plugin is installed,
# as a cluster's workers are (a cluster made in this process would hand its workers this
# process's sys.path, from before the install). It prints its address and runs until its
# stdin closes.
CLUSTER = """
import sys
from dask.distributed import LocalCluster

with LocalCluster(
    n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
) as cluster:
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()
"""


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_contributing_tutorial_runs_as_written(tmp_path, monkeypatch):
    page = DOC.read_text()
    steps = shrink(tutorial_steps(page), replacements(page))
    work = tmp_path / "work"
    work.mkdir()
    outputs: dict[str, str] = {}
    timings: list[tuple[float, float, str]] = []
    cluster = None
    _pip("uninstall", "-y", "-q", DISTRIBUTION)  # what an interrupted run left installed
    with serve(monkeypatch, tmp_path / "hf-home") as hub:
        env = {k: v for k, v in os.environ.items() if k not in (PLUGINS_ENV, "PYTHONPATH")}
        # ssmhub, pip, pytest and python of this environment, as the reader's shell has them
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        env |= {"COLUMNS": "200", "NO_COLOR": "1"}
        try:
            for step in steps:
                if step.path is not None:
                    (work / step.path).parent.mkdir(parents=True, exist_ok=True)
                    (work / step.path).write_text(step.text)
                    continue
                command = step.text
                if command.startswith("export "):
                    name, _, value = shlex.split(command)[1].partition("=")
                    env[name] = value
                    continue
                if SCHEDULER in command:
                    cluster = subprocess.Popen(
                        [sys.executable, "-c", CLUSTER],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                        env=env,
                    )
                    address = cluster.stdout.readline().strip()
                    assert address.startswith("tcp://"), address
                    command = command.replace(SCHEDULER, address)
                start, cpu = time.perf_counter(), _children_cpu()
                result = subprocess.run(
                    ["bash", "-c", command],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                timings.append((time.perf_counter() - start, _children_cpu() - cpu, command))
                assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
                outputs[step.text] = result.stdout
        finally:
            if cluster is not None:
                try:
                    cluster.communicate("", timeout=60)  # closing stdin stops it
                except subprocess.TimeoutExpired:
                    cluster.kill()
                    cluster.communicate()
            _pip("uninstall", "-y", "-q", DISTRIBUTION)
            for seconds, cpu, command in timings:
                print(f"{seconds:6.1f} s ({cpu:5.1f} s CPU)  $ {command}")

        def output_of(prefix: str) -> str:
            return next(out for text, out in outputs.items() if text.startswith(prefix))

        info = output_of("ssmhub info")
        assert "ornstein_angle (ssmhub-ornstein-angle 0.1.0)" in info, info
        kit = output_of("pytest")
        assert "6 passed, 4 skipped" in kit, kit
        assert (work / "data" / "lan" / "manifest.json").is_file()
        evaluated = output_of("ssmhub evaluate")
        assert "median_abs_error (nats)" in evaluated, evaluated
        published = " ".join(output_of("ssmhub publish").split())
        assert "published ornstein_angle lan v1 to my-lab/ssm-networks" in published, published
        tree = hub.repos["my-lab/ssm-networks"].resolve("main").tree
        assert "ornstein_angle/lan/v1/weights.safetensors" in tree
        fitted = output_of("python fit.py").split()
        assert {"mean", "sd", "v", "a", "g", "t", "theta"} <= set(fitted), fitted
        # The network came from the registry, through the cache, not from the plugin.
        assert (Path(os.environ["SSMHUB_HOME"]) / "networks" / "ornstein_angle" / "lan").is_dir()
