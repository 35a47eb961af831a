"""Importing ssmhub changes no global state of the process it is imported into, and
drawing a figure chooses no matplotlib backend."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs in a fresh interpreter: this test process has long since imported everything.
PROBE = """
import importlib, json, multiprocessing, pathlib, pkgutil, sys, tempfile, warnings

import jax, matplotlib
import pymc.sampling.jax, pymc.sampling.mcmc

def state():
    return {
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "matplotlib backend": str(matplotlib.rcParams["backend"]),
        "pyplot imported": "matplotlib.pyplot" in sys.modules,
        "start method": multiprocessing.get_start_method(allow_none=True),
        "warning filters": len(warnings.filters),
        "pymc functions": [
            id(pymc.sampling.mcmc._initialize_multiprocessing_context),
            id(pymc.sampling.jax._blackjax_inference_loop),
            id(pymc.sampling.jax._sample_blackjax_nuts),
        ],
    }

before = state()
imported = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
            imported.append(info.name)
from ssmhub.plots import save_figure, subplots
fig, ax = subplots(figsize=(2, 2))
ax.plot([0, 1])
save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "figure.png")
print(json.dumps({"before": before, "after": state(), "imported": imported}))
"""

PACKAGES = ["ssmhub", "ssmhub_registry", "ssmhub_ddm", "ssmhub_angle", "ssmhub_weibull"]


@pytest.mark.slow
def test_importing_every_ssmhub_module_and_drawing_change_no_global_state():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *PACKAGES], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert {"ssmhub.pymc", "ssmhub.ops", "ssmhub.plots", "ssmhub.sampling"} <= set(
        report["imported"]
    )
    assert report["after"] == report["before"]
