"""The correction a LAN may carry: what `ssmhub normalise` records in the LAN's config.json.

A LAN's density, integrated over rt, should give the model's choice probability. Its small
errors in that mass add up over a dataset's trials and shift the posterior (see "Found:
renormalising the LAN to the CPN" in docs/benchmarks.md). The correction network learns
c(parameters, response) = log(mass the LAN puts on the response) - log P_CPN(response), so
that the likelihood builder scores a trial LAN - c: the LAN gives the shape of the rt
distribution and the CPN its mass. It is only valid beside the CPN it was fitted to, whose
weights' sha256 it records.
"""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
)


class Quadrature(BaseModel):
    """Gauss-Legendre nodes in log decision time: where the LAN's mass is integrated.

    The range ends where the LAN's training data do (ssm-simulators' 20 s horizon): beyond,
    a LAN extrapolates. What the model puts beyond it is left out (for the ddm at a = 2,
    v = 0, about 0.3 % of the mass, measured against its exact choice probability).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    nodes: PositiveInt = 128
    min_decision_time: PositiveFloat = 1e-3
    max_decision_time: PositiveFloat = 20.0


class CorrectionSettings(BaseModel):
    """Knobs of `ssmhub normalise`; recorded with the correction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hidden: tuple[PositiveInt, ...] = (128, 128, 128)
    parameter_sets: PositiveInt = Field(
        default=1_200_000,
        description="Parameter sets drawn uniformly from the box, a response each; every one "
        "is labelled by quadrature (value and parameter gradient), so labels are noise-free.",
    )
    epochs: PositiveInt = 40
    batch_size: PositiveInt = 1024
    learning_rate: PositiveFloat = 2e-3
    gradient_weight: NonNegativeFloat = Field(
        default=1.0,
        description="Weight of the loss on c's parameter gradient (per SD of each parameter "
        "in the box): a posterior is shifted by the gradient's errors, not the value's.",
    )
    validation_fraction: float = Field(default=0.05, gt=0, lt=1)
    quadrature: Quadrature = Quadrature()
    seed: int = 0


class Correction(BaseModel):
    """A LAN's correction network: how it was made and against which CPN."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpn_sha256: str = Field(description="sha256 of the CPN's weights.safetensors.")
    settings: CorrectionSettings
    rms_error: NonNegativeFloat = Field(description="Held-out RMS error of c (nats).")
    max_error: NonNegativeFloat = Field(description="Held-out largest error of c (nats).")
    command: str = ""
