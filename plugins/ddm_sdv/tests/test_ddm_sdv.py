"""ssmhub's conformance checks for model ddm_sdv.

Run `pytest` after every change.
"""

from ssmhub.testing import PluginConformance


class TestConformance(PluginConformance):
    model = "ddm_sdv"
