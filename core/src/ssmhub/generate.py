"""Training data at scale: a recipe split into shards of parameter sets, run on Dask.

Each shard depends only on (recipe, model, shard index) — its seed is derived from the
recipe's seed and its index — so the data do not depend on how many workers made them; a
rerun keeps every shard whose checksum still matches the manifest and redoes the rest, and
a recipe that only asks for more (or fewer) parameter sets keeps the shards they share.
Shards are ``.npy`` files of float32 rows (byte-for-byte reproducible, memory-mappable,
never pickled); the manifest is rewritten atomically after every finished shard.
"""

from __future__ import annotations

import importlib.metadata
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ssmhub.cluster import dask_client
from ssmhub.errors import SsmhubError
from ssmhub.files import sha256_of, write_atomically, write_text_atomically
from ssmhub.likelihood import Likelihood
from ssmhub.recipe import NetworkKind, Recipe
from ssmhub.spec import ModelSpec

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class Shard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    file: str
    rows: int
    sha256: str


class Manifest(BaseModel):
    """What a data directory holds and how it was made."""

    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = FORMAT_VERSION
    model: str
    kind: NetworkKind
    parameter_names: tuple[str, ...]
    box: dict[str, tuple[float, float]]
    columns: tuple[str, ...]
    recipe: Recipe
    recipe_sha256: str
    labels_revision: int = 1  # labels.LABELS_REVISION of the recipe's estimator
    n_shards: int
    versions: dict[str, str]
    shards: list[Shard] = []

    @property
    def complete(self) -> bool:
        return len(self.shards) == self.n_shards


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        raise SsmhubError(f"{path}: no manifest; is this a directory made by `ssmhub generate`?")
    try:
        return Manifest.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise SsmhubError(f"{path}: invalid manifest: {exc}") from None


def columns_for(spec: ModelSpec, kind: NetworkKind) -> tuple[str, ...]:
    if kind == "lan":
        return (*spec.parameter_names, "rt", "response", "log_likelihood")
    if kind == "mnle":  # raw trials; an undecided one has rt and response NaN
        return (*spec.parameter_names, "rt", "response")
    return (*spec.parameter_names, "p_upper")


def make_shard(model: str, recipe: Recipe, index: int) -> np.ndarray:
    """All rows of shard ``index``; runs on a Dask worker, which loads its own plugins."""
    from ssmhub.labels import Labeller
    from ssmhub.plugins import get_manager

    manager = get_manager()
    spec = manager.catalog.get(model)
    simulator = manager.simulator(spec)
    likelihood = _exact_likelihood(spec) if recipe.estimator == "exact" else None
    box = recipe.resolved_box(spec)
    first = index * recipe.shard_size
    n_sets = min(recipe.shard_size, recipe.n_parameter_sets - first)
    rng = np.random.default_rng(np.random.SeedSequence([recipe.seed, index]))
    lower = np.array([box[n][0] for n in spec.parameter_names])
    upper = np.array([box[n][1] for n in spec.parameter_names])
    thetas = rng.uniform(lower, upper, size=(n_sets, len(lower)))
    seeds = rng.integers(0, 2**31, size=n_sets)
    if recipe.kind == "mnle":
        from ssmhub.labels import simulated_trials

        return simulated_trials(spec, recipe, simulator, thetas, int(seeds[0]))
    labeller = Labeller(spec, recipe, simulator, likelihood)
    rows = [
        labeller.rows(dict(zip(spec.parameter_names, map(float, theta), strict=True)), int(seed))
        for theta, seed in zip(thetas, seeds, strict=True)
    ]
    return np.concatenate(rows).astype(np.float32)


def _exact_likelihood(spec: ModelSpec) -> Likelihood | None:
    from ssmhub.plugins import get_manager

    return get_manager().find_likelihood(spec, "exact")


def _versions(spec_owner: str | None) -> dict[str, str]:
    names = ["ssmhub", "ssm-simulators", "numpy"] + ([spec_owner] if spec_owner else [])
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "?"
    return versions


def _sets_in_shard(recipe: Recipe, index: int) -> int:
    return min(recipe.shard_size, recipe.n_parameter_sets - index * recipe.shard_size)


def _differences(earlier: Manifest, now: Manifest, plugin: str) -> list[str]:
    """What differs between the build that made ``earlier`` and this one, one line per field
    (its value in the directory, its value now); shards of the two builds must not be mixed.

    A shard is a function of its index, the recipe's fields but ``n_parameter_sets`` (so a
    data set can grow), the resolved box rather than the recipe's (a plugin upgrade moves the
    spec's bounds without touching the recipe), the plugin's and ssm-simulators' code, and
    the estimator's labels (`labels.LABELS_REVISION`).
    """
    fields: dict[str, tuple[object, object]] = {
        f"recipe.{name}": (getattr(earlier.recipe, name), getattr(now.recipe, name))
        for name in Recipe.model_fields
        if name not in ("n_parameter_sets", "box")
    }
    for name in dict.fromkeys([*earlier.box, *now.box]):
        fields[f"box[{name!r}]"] = (earlier.box.get(name), now.box.get(name))
    for package in ("ssm-simulators", plugin):
        fields[f"versions[{package!r}]"] = (
            earlier.versions.get(package),
            now.versions.get(package),
        )
    fields["labels_revision"] = (earlier.labels_revision, now.labels_revision)
    return [
        f"{field} is {_shown(old)} there, {_shown(new)} now"
        for field, (old, new) in fields.items()
        if old != new
    ]


def _shown(value: object) -> str:
    """A manifest value as a person reads it: a range as [lo, hi], a missing one as such."""
    if value is None:
        return "absent"
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{x:g}" for x in value) + "]"
    return repr(value)


def _kept_shards(root: Path, earlier: Manifest, recipe: Recipe) -> list[Shard]:
    """Shards of an earlier run of the same build (see `_differences`) that ``recipe`` would
    make again, byte for byte: every full shard already made when a data set grows. A file
    that is missing or fails its checksum is redone.
    """
    return [
        s
        for s in earlier.shards
        if _sets_in_shard(earlier.recipe, s.index) == _sets_in_shard(recipe, s.index)
        and (root / s.file).is_file()
        and sha256_of(root / s.file) == s.sha256
    ]


def generate(
    model: str,
    kind: NetworkKind,
    out: Path,
    recipe: Recipe | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    on_shard: Callable[[Shard, Manifest], None] | None = None,
) -> Manifest:
    """Generate (or finish) the training data of ``recipe`` into ``out``.

    ``scheduler`` is the address of a running Dask scheduler; without one a
    ``LocalCluster`` of ``n_workers`` processes (default: one per core) is started.
    """
    from ssmhub.labels import LABELS_REVISION, check_estimator
    from ssmhub.plugins import get_manager

    manager = get_manager()
    spec = manager.catalog.get(model)
    spec.check_kind(kind)
    recipe = recipe or manager.recipe(spec, kind)
    if recipe.kind != kind:
        raise SsmhubError(f"recipe.kind is {recipe.kind!r} but {kind!r} data was asked for")
    try:
        box = recipe.resolved_box(spec)
    except ValueError as exc:
        raise SsmhubError(f"recipe.box: {exc}") from None
    check_estimator(spec, recipe, _exact_likelihood(spec))

    out.mkdir(parents=True, exist_ok=True)
    plugin = manager.records[manager.catalog.owners[model]].distribution
    manifest = Manifest(
        model=model,
        kind=kind,
        parameter_names=spec.parameter_names,
        box=box,
        columns=columns_for(spec, kind),
        recipe=recipe,
        recipe_sha256=recipe.digest(),
        labels_revision=LABELS_REVISION[recipe.estimator],
        n_shards=math.ceil(recipe.n_parameter_sets / recipe.shard_size),
        versions=_versions(plugin),
    )
    if (out / MANIFEST).exists():
        earlier = read_manifest(out)
        if (earlier.model, earlier.kind) != (model, kind):
            raise SsmhubError(
                f"{out} holds {earlier.model} {earlier.kind} data, not {model} {kind}; "
                "choose an empty directory"
            )
        changed = _differences(earlier, manifest, plugin)
        if changed:
            raise SsmhubError(
                f"{out} holds data of another build, which new shards would not match "
                f"({'; '.join(changed)}); only n_parameter_sets may change between runs in "
                "one directory: choose an empty one"
            )
        manifest.shards = _kept_shards(out, earlier, recipe)
    todo = sorted(set(range(manifest.n_shards)) - {s.index for s in manifest.shards})
    write_text_atomically(out / MANIFEST, manifest.model_dump_json(indent=2))
    if not todo:
        return manifest

    from dask.distributed import as_completed

    with dask_client(scheduler, n_workers) as client:
        futures = {client.submit(make_shard, model, recipe, i, pure=False): i for i in todo}
        for future in as_completed(futures):
            index = futures[future]
            shard = _save_shard(out, index, future.result())
            future.release()
            manifest.shards = sorted([*manifest.shards, shard], key=lambda s: s.index)
            write_text_atomically(out / MANIFEST, manifest.model_dump_json(indent=2))
            if on_shard:
                on_shard(shard, manifest)
    return manifest


def _save_shard(out: Path, index: int, rows: np.ndarray) -> Shard:
    name = f"shard-{index:05d}.npy"
    buffer = io.BytesIO()
    np.save(buffer, rows, allow_pickle=False)
    write_atomically(out / name, lambda f: f.write(buffer.getvalue()))
    return Shard(index=index, file=name, rows=len(rows), sha256=sha256_of(out / name))


def load_shard(root: Path, shard: Shard, mmap: bool = True) -> np.ndarray:
    """One shard's rows, after checking its checksum (a corrupt shard is named, not read)."""
    path = root / shard.file
    if not path.is_file() or sha256_of(path) != shard.sha256:
        raise SsmhubError(
            f"{path}: missing or corrupt (sha256 differs from the manifest); rerun "
            "`ssmhub generate` with the same recipe to redo it"
        )
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
