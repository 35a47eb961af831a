"""ssmhub's conformance checks for model lba3.

Run `pytest` after every change.
"""

from ssmhub.testing import PluginConformance


class TestConformance(PluginConformance):
    model = "lba3"
