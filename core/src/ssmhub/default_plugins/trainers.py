"""The core's LAN and CPN trainers (Flax MLPs, Optax), registered like any plugin's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ssmhub.hookspecs import hookimpl
from ssmhub.recipe import NetworkKind
from ssmhub.trainer import Trainer, TrainSettings


@dataclass(frozen=True)
class MLPTrainer:
    kind: NetworkKind

    def train(self, data_dir: Path, out_dir: Path, settings: TrainSettings) -> Path:
        from ssmhub.training import train

        train(data_dir, out_dir, settings, kind=self.kind)
        return out_dir


@hookimpl
def register_trainers(register: Callable[[Trainer], None]) -> None:
    register(MLPTrainer("lan"))
    register(MLPTrainer("cpn"))
