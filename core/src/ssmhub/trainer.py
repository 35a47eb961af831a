"""The trainer contract: what the `register_trainers` hook registers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from ssmhub.recipe import NetworkKind

# How a LAN sees the reaction time: as is, or as the log of the decision time rt - t.
RtFeature = Literal["rt", "log_decision_time"]


class TrainSettings(BaseModel):
    """Knobs of a training run; recorded in the network's config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden: tuple[PositiveInt, ...] = (100, 100, 100)
    epochs: PositiveInt = 20
    batch_size: PositiveInt = 4096
    learning_rate: float = Field(default=1e-3, gt=0)
    warmup_fraction: float = Field(default=0.05, ge=0, lt=1)
    validation_fraction: float = Field(default=0.05, gt=0, lt=1)
    patience: PositiveInt = 10
    rt_feature: RtFeature = Field(
        default="log_decision_time",
        description="LAN input: log(rt - t) puts the density's onset at the same place for "
        "every t and spreads its steep rise; models without a parameter t use rt.",
    )
    gradient_weight: float = Field(
        default=0.0,
        ge=0,
        description="Sobolev training: weight of a second loss on the LAN's gradient with "
        "respect to the parameters, against the model's exact likelihood (0: off). A "
        "posterior is shifted by errors in that gradient, which the loss on values leaves "
        "loose.",
    )
    label_floor: float | None = Field(
        default=None,
        description="LAN: log-likelihood labels below this are trained as this value (None: "
        "as generated, down to the estimator's floor of log 1e-29). Labels far in a tail, "
        "where data almost never fall, otherwise take most of the loss from the region "
        "that decides a fit.",
    )
    components: PositiveInt = Field(
        default=8, description="mnle: Gaussians per choice in the density of log decision time."
    )
    distill_weight: float = Field(
        default=0.0,
        ge=0,
        description="mnle: weight of a second loss, the squared error of the log-likelihood "
        "against the model's exact likelihood on the simulated trials (0: maximum likelihood "
        "alone). Needs a plugin's 'exact' likelihood.",
    )
    init: Path | None = Field(
        default=None,
        description="A network directory to start from (fine-tuning) instead of random weights.",
    )
    seed: int = 0


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    train_loss: float
    validation_loss: float
    best: bool


class Trainer(Protocol):
    """Trains one kind of network from a directory of shards into a network directory."""

    kind: NetworkKind

    def train(
        self,
        data_dir: Path,
        out_dir: Path,
        settings: TrainSettings,
        on_epoch: Callable[[EpochReport], None] | None = None,
    ) -> Path:
        """Train on ``data_dir``, save the network to ``out_dir`` and return it; ``on_epoch``
        hears of each epoch (progress bars)."""
        ...
