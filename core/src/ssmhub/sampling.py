"""``pm.sample`` for models with ssmhub likelihoods, with the fixes pymc 6.4 needs here.

Importing ssmhub changes nothing in PyMC: `sample` applies each fix for its own call, and
only where the user did not choose otherwise. Where pymc and blackjax agree again, the
fix in question goes (each names the reason it exists).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax

from ssmhub.likelihood import Array

__all__ = ["sample"]


def sample(*args: Any, **kwargs: Any) -> Any:
    """``pm.sample(*args, **kwargs)`` (in a model context), where it would fail or hang
    otherwise.

    - PyMC's own NUTS starts chain processes with ``forkserver`` (else ``spawn``) unless
      ``mp_ctx`` is given: the likelihood has run JAX in this process, and a process forked
      from running JAX can deadlock (``fork`` is Linux's default before Python 3.14; pymc
      avoids it only when the whole model is compiled to JAX).
    - ``nuts_sampler="blackjax"``: see `_blackjax_fixes`.
    """
    import pymc as pm

    sampler = kwargs.get("nuts_sampler", "pymc")
    if sampler == "pymc" and kwargs.get("mp_ctx") is None:
        methods = multiprocessing.get_all_start_methods()
        kwargs["mp_ctx"] = "forkserver" if "forkserver" in methods else "spawn"
    with _blackjax_fixes() if sampler == "blackjax" else contextlib.nullcontext():
        return pm.sample(*args, **kwargs)


@contextlib.contextmanager
def _blackjax_fixes() -> Iterator[None]:
    """pymc's blackjax sampling, working with blackjax >= 1.6 and with a CPU, for a while.

    pymc's loop is swapped for `_blackjax_inference_loop` only if blackjax lacks what it
    calls (``blackjax.progress_bar.gen_scan_fn``, gone in 1.6), and its sampler wrapped by
    `_parallel_chains_on_devices`, which acts only with more chains than devices. Both are
    put back on the way out.
    """
    import blackjax
    import pymc.sampling.jax as pymc_jax

    saved = {f: getattr(pymc_jax, f) for f in ("_blackjax_inference_loop", "_sample_blackjax_nuts")}
    if not hasattr(blackjax.progress_bar, "gen_scan_fn"):
        pymc_jax._blackjax_inference_loop = _blackjax_inference_loop
    pymc_jax._sample_blackjax_nuts = _parallel_chains_on_devices(saved["_sample_blackjax_nuts"])
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(pymc_jax, name, function)


def _blackjax_inference_loop(
    seed: Array,
    init_position: Any,
    logp_fn: Callable,
    draws: int,
    tune: int,
    target_accept: float,
    **adaptation_kwargs: Any,
) -> tuple[Any, dict[str, Array]]:
    """pymc's blackjax loop for blackjax >= 1.6 (pymc issue 8367), without a progress bar.

    pymc 6.4 hands ``progress_bar`` to ``blackjax.window_adaptation``, which since blackjax
    1.6 forwards unknown arguments to the NUTS kernel (``TypeError: ... unexpected keyword
    argument 'progress_bar'``), and then calls ``blackjax.progress_bar.gen_scan_fn``, which
    blackjax 1.6 replaced by a context manager. This is pymc's loop with the argument
    dropped before the adaptation and a plain ``lax.scan``.
    """
    import blackjax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    adaptation_kwargs.pop("progress_bar", None)
    algorithm_name = adaptation_kwargs.pop("algorithm", "nuts")
    if algorithm_name not in ("nuts", "hmc"):
        raise ValueError("Only supporting 'nuts' or 'hmc' as algorithm to draw samples.")
    algorithm = getattr(blackjax, algorithm_name)
    adapt = blackjax.window_adaptation(
        algorithm=algorithm,
        logdensity_fn=logp_fn,
        target_acceptance_rate=target_accept,
        adaptation_info_fn=get_filter_adapt_info_fn(),
        **adaptation_kwargs,
    )
    (last_state, tuned_params), _ = adapt.run(seed, init_position, num_steps=tune)
    kernel = algorithm(logp_fn, **tuned_params).step

    def one_step(state: Any, key: Array) -> tuple[Any, tuple[Any, dict[str, Array]]]:
        state, info = kernel(key, state)
        stats = {
            "diverging": info.is_divergent,
            "energy": info.energy,
            "tree_depth": info.num_trajectory_expansions,
            "n_steps": info.num_integration_steps,
            "acceptance_rate": info.acceptance_rate,
            "lp": state.logdensity,
        }
        return state, (state.position, stats)

    _, (samples, stats) = jax.lax.scan(one_step, last_state, jax.random.split(seed, draws))
    return samples, stats


def _parallel_chains_on_devices(sample: Callable[..., Any]) -> Callable[..., Any]:
    """pymc's blackjax sampling, with vectorized chains where there are too few devices.

    ``chain_method="parallel"`` maps chains with ``jax.pmap``, one device each, and fails
    with more chains than devices (a CPU is one device); numpyro falls back to sequential
    chains there, and this falls back to ``"vectorized"``, with a warning like numpyro's.
    """

    @functools.wraps(sample)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        chains = kwargs.get("chains", 1)
        if kwargs.get("chain_method") == "parallel" and chains > jax.local_device_count():
            warnings.warn(
                f"{chains} chains but {jax.local_device_count()} JAX device(s): "
                "blackjax chains are vectorized instead of parallel",
                UserWarning,
                stacklevel=2,
            )
            kwargs["chain_method"] = "vectorized"
        return sample(*args, **kwargs)

    return wrapper
