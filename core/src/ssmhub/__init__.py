"""ssmhub: a plugin registry of sequential sampling models with neural likelihoods.

The public API is small on purpose: what a plugin needs (`hookimpl`, `ModelSpec`,
`Parameter`, `Recipe`, `Simulation`, `OMITTED`) and what a user needs (`list_models`,
`get_model`, `simulate`, `load_network`).
"""

from ssmhub.errors import SsmhubError
from ssmhub.hookspecs import hookimpl
from ssmhub.plugins import get_model, list_models, load_network
from ssmhub.recipe import Recipe
from ssmhub.simulation import simulate
from ssmhub.simulator import OMITTED, Simulation
from ssmhub.spec import ModelSpec, Parameter

__all__ = [
    "OMITTED",
    "ModelSpec",
    "Parameter",
    "Recipe",
    "Simulation",
    "SsmhubError",
    "get_model",
    "hookimpl",
    "list_models",
    "load_network",
    "simulate",
]
