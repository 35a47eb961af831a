"""The core's own hook implementations, loaded before any installed plugin."""

from ssmhub.default_plugins import ssms_simulator

PLUGINS = [ssms_simulator]
