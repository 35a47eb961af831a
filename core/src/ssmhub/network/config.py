"""What a network's ``config.json`` holds: how to rebuild, check and trust it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    model_validator,
)

from ssmhub import mnle
from ssmhub.correction import Correction
from ssmhub.recipe import NetworkKind, Recipe
from ssmhub.trainer import TrainSettings


class Accuracy(BaseModel):
    """What `ssmhub evaluate` measured: absolute errors against a reference likelihood.

    Recorded in config.json as ``metrics["accuracy"]``, copied into a registry's index, and
    shown on both model cards (the shipped one and the Hub's) by `markdown`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reference: str  # "exact" (closed form) or "pyddm" (Fokker-Planck)
    unit: Literal["nats", "probability"]
    n_parameter_sets: PositiveInt
    n_trials_per_set: PositiveInt
    seed: int
    median_abs_error: NonNegativeFloat
    p90_abs_error: NonNegativeFloat
    p99_abs_error: NonNegativeFloat
    # Percentiles cannot see a rare trial scored tens of nats off (the tail PyDDM leaves out
    # did that to 1 trial in 3,000); the maximum can. None: measured before it was recorded.
    max_abs_error: NonNegativeFloat | None = None
    # Trials whose reference density is zero cannot be scored; how many there were.
    n_unscored: NonNegativeInt = 0

    def markdown(self) -> str:
        """How it was measured, in a sentence, and the errors in a table."""
        lan = self.unit == "nats"
        # A CPN's is P(upper choice); an mnle's, P(choice) of every choice the reference gives.
        error = "log-likelihood (nats)" if lan else "choice probability"
        trials = f", {self.n_trials_per_set} trials each drawn from the model" if lan else ""
        maximum = "-" if self.max_abs_error is None else f"{self.max_abs_error:.4g}"
        unscored = (
            f"\n\n{self.n_unscored} trials had a reference density of zero and were not scored."
            if self.n_unscored
            else ""
        )
        return (
            f"Accuracy against the {self.reference} likelihood (`ssmhub evaluate`): "
            f"{self.n_parameter_sets} parameter sets drawn uniformly from the training box"
            f"{trials}, seed {self.seed}.\n\n"
            "| absolute error in | median | p90 | p99 | max |\n"
            "| --- | ---: | ---: | ---: | ---: |\n"
            f"| {error} | {self.median_abs_error:.4g} | {self.p90_abs_error:.4g} | "
            f"{self.p99_abs_error:.4g} | {maximum} |{unscored}"
        )


class ImportedFrom(BaseModel):
    """Where an imported network's weights came from (`ssmhub import`): a file ssmhub did
    not train, whose training data it cannot know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["onnx"] = "onnx"
    file: str  # the file's name as given, without its directory
    sha256: str  # of the file's bytes
    producer_name: str | None = None  # what the file says made it, if it says
    producer_version: str | None = None


class NetworkConfig(BaseModel):
    """Everything needed to rebuild, check and trust a network, saved as config.json."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: Literal[1] = 1
    model: str
    kind: NetworkKind
    parameter_names: tuple[str, ...]
    # The spec's non-decision time when the network was trained (`ModelSpec.non_decision_time`):
    # the LAN's log(rt - t) input and the MNLE's decision time subtract it.
    non_decision_time: str | None
    inputs: tuple[str, ...]
    output: Literal["log_likelihood", "logit_p_upper", "mixture"]
    hidden: tuple[int, ...]
    # mnle only (see `ssmhub.mnle`): the spec's choices in output order, and the Gaussians
    # per choice.
    choices: tuple[int, ...] | None = None
    components: PositiveInt | None = None
    activation: Literal["tanh"] = "tanh"
    box: dict[str, tuple[float, float]]
    recipe: Recipe
    recipe_sha256: str
    data_manifest_sha256: str
    settings: TrainSettings
    versions: dict[str, str]
    metrics: dict[str, Any] = {}
    command: str = ""
    correction: Correction | None = None
    # Set for a network imported from a file (`ssmhub import`), not trained by ssmhub: its
    # recipe is then a stand-in (the box it is used in), not the one of its training data.
    imported_from: ImportedFrom | None = None

    @model_validator(mode="before")
    @classmethod
    def _recorded_non_decision_time(cls, data: Any) -> Any:
        """Configs written before the field existed: their training code took the parameter
        named t, if any, as the non-decision time, so that is what their weights compute."""
        if isinstance(data, dict) and "non_decision_time" not in data:
            data = {
                **data,
                "non_decision_time": "t" if "t" in data.get("parameter_names", ()) else None,
            }
        return data

    @model_validator(mode="after")
    def _check_non_decision_time(self) -> Self:
        if (
            self.non_decision_time is not None
            and self.non_decision_time not in self.parameter_names
        ):
            raise ValueError(
                f"non_decision_time {self.non_decision_time!r} is not one of the network's "
                f"parameter_names {list(self.parameter_names)}"
            )
        if (
            self.non_decision_time is None
            and "rt" in self.inputs
            and self.settings.rt_feature == "log_decision_time"
        ):
            raise ValueError(
                "settings.rt_feature 'log_decision_time' needs a non_decision_time; a model "
                "without one is trained on rt"
            )
        return self

    @property
    def n_outputs(self) -> int:
        if self.kind != "mnle":
            return 1
        assert self.choices is not None
        assert self.components is not None
        return mnle.n_outputs(len(self.choices), self.components)

    @property
    def accuracy(self) -> Accuracy | None:
        """The recorded accuracy report, if the network was evaluated."""
        report = self.metrics.get("accuracy")
        return None if report is None else Accuracy.model_validate(report)


def command_line() -> str:
    """The `ssmhub` command that is running (also as ``python -m ssmhub.cli``), recorded as a
    network's provenance; empty when another program runs."""
    import shlex
    import sys

    ours = sys.argv[0].endswith(("ssmhub", str(Path("ssmhub", "cli.py"))))
    return shlex.join(["ssmhub", *sys.argv[1:]]) if ours else ""
