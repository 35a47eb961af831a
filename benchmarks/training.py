"""Training-data generation throughput on 1 and 2 Dask workers, and training throughput.

Run by hand: ``python benchmarks/training.py [--sets 200]``. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ssmhub import Recipe
from ssmhub.generate import generate
from ssmhub.trainer import TrainSettings
from ssmhub.training import train

RECIPES = {
    "ddm lan, exact labels": ("ddm", Recipe(kind="lan", estimator="exact", n_simulations=2_000)),
    "angle lan, kde labels": ("angle", Recipe(kind="lan", estimator="kde", n_simulations=20_000)),
}


def generation(sets: int) -> list[str]:
    rows = [
        "| data | workers | parameter sets/s | rows/s | speed-up |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, (model, recipe) in RECIPES.items():
        recipe = recipe.model_copy(update={"n_parameter_sets": sets, "shard_size": 10})
        base = None
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                manifest = generate(model, recipe.kind, Path(out), recipe, n_workers=workers)
                seconds = time.perf_counter() - start
            n_rows = sum(s.rows for s in manifest.shards)
            base = base or seconds
            rows.append(
                f"| {label} | {workers} | {sets / seconds:.1f} | {n_rows / seconds:,.0f} "
                f"| {base / seconds:.2f} |"
            )
    return rows


def training(sets: int) -> list[str]:
    rows = ["| network | rows | epochs | rows/s |", "| --- | --- | --- | --- |"]
    model, recipe = RECIPES["ddm lan, exact labels"]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        generate(
            model, "lan", data, recipe.model_copy(update={"n_parameter_sets": sets}), n_workers=2
        )
        settings = TrainSettings(epochs=3)
        start = time.perf_counter()
        network = train(data, Path(tmp) / "run", settings)
        seconds = time.perf_counter() - start
        epochs = len(network.config.metrics["history"])
        n_rows = sets * recipe.n_training_points
        rows.append(
            f"| lan {list(settings.hidden)} | {n_rows:,} | {epochs} | "
            f"{n_rows * epochs / seconds:,.0f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", type=int, default=200)
    args = parser.parse_args()
    print("\n".join(generation(args.sets)), end="\n\n", flush=True)
    print("\n".join(training(args.sets * 5)), flush=True)


if __name__ == "__main__":
    main()
