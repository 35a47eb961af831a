"""ssmhub's conformance checks for model racing_diffusion_3.

Run `pytest` after every change.
"""

from ssmhub.testing import PluginConformance


class TestConformance(PluginConformance):
    model = "racing_diffusion_3"
