"""The core's trainers: Flax MLPs for LANs and CPNs, and the MNLE, registered like any
plugin's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from ssmhub.hookspecs import hookimpl
from ssmhub.recipe import NetworkKind
from ssmhub.trainer import EpochReport, Trainer, TrainSettings


@dataclass(frozen=True)
class CoreTrainer:
    """The core's trainer of one kind; its module is imported when training starts."""

    kind: NetworkKind

    def train(
        self,
        data_dir: Path,
        out_dir: Path,
        settings: TrainSettings,
        on_epoch: Callable[[EpochReport], None] | None = None,
    ) -> Path:
        if self.kind == "mnle":
            from ssmhub.mnle_training import train_mnle

            train_mnle(data_dir, out_dir, settings, on_epoch=on_epoch)
        else:
            from ssmhub.training import train

            train(data_dir, out_dir, settings, kind=self.kind, on_epoch=on_epoch)
        return out_dir


@hookimpl
def register_trainers(register: Callable[[Trainer], None]) -> None:
    for kind in get_args(NetworkKind):
        register(CoreTrainer(kind))
