"""The core's own hook implementations, loaded before any installed plugin."""

from ssmhub.default_plugins import cache, ssms_simulator, trainers

PLUGINS = [cache, ssms_simulator, trainers]
