"""How precise a LAN's correction is (``ssmhub normalise``), in value and in gradient.

A posterior moves with the correction's error in its parameter gradient, summed over the
dataset's trials, so that is what is measured here: at parameter sets drawn from the middle
of the box (where fits happen), the correction network against the quadrature it learnt,
for each response. Printed per parameter: RMS and 99th percentile of the gradient error (per
unit of the parameter), and of the value (nats). The LAN, with its correction, and the CPN
are whichever ``ssmhub.load_network`` finds (put a candidate in a scratch ``SSMHUB_HOME``).

Run by hand: ``python benchmarks/correction_accuracy.py MODEL [--sets 20000] [--inner 0.8]``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import ssmhub
from ssmhub.normalise import correction_labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--sets", type=int, default=20_000)
    parser.add_argument("--inner", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    lan, cpn = ssmhub.load_network(args.model, "lan"), ssmhub.load_network(args.model, "cpn")
    correction = lan.config.correction
    if correction is None or lan.correction is None:
        raise SystemExit(f"the {args.model} LAN found carries no correction")
    names = lan.config.parameter_names
    box = np.array([lan.config.box[n] for n in names])
    middle, half = box.mean(1), (box[:, 1] - box[:, 0]) * args.inner / 2
    rng = np.random.default_rng(args.seed)
    theta = rng.uniform(middle - half, middle + half, (args.sets, len(names))).astype(np.float32)
    spec = ssmhub.get_model(args.model)
    upper, lower = spec.upper_choice, spec.lower_choice
    response = np.where(rng.random(args.sets) < 0.5, upper, lower).astype(np.float32)
    quadrature = correction.settings.quadrature
    value, gradient = correction_labels(lan, cpn, theta, response, quadrature, upper)

    ours, pull = jax.vjp(lambda th: lan.correction_of(th, response), jnp.asarray(theta))
    (our_gradient,) = pull(jnp.ones_like(ours))
    value_error = np.asarray(ours) - value
    gradient_error = np.asarray(our_gradient) - gradient
    print(f"{args.model}: {args.sets} sets in the middle {args.inner:.0%} of the box")
    print("| quantity | RMS error | p99 abs error |", "| --- | ---: | ---: |", sep="\n")
    print(
        f"| c (nats) | {np.sqrt(np.mean(value_error**2)):.5f} | "
        f"{np.percentile(np.abs(value_error), 99):.5f} |"
    )
    for i, name in enumerate(names):
        e = gradient_error[:, i]
        print(f"| dc/d{name} | {np.sqrt(np.mean(e**2)):.5f} | {np.percentile(np.abs(e), 99):.5f} |")


if __name__ == "__main__":
    main()
