"""The core's own hook implementations, loaded before any installed plugin."""

from ssmhub.default_plugins import (
    cache,
    mnle_likelihood,
    network_likelihood,
    pulled,
    ssms_simulator,
    trainers,
)

PLUGINS = [cache, pulled, ssms_simulator, trainers, network_likelihood, mnle_likelihood]
