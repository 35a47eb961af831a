"""ssmhub's conformance checks for the ornstein model: run `pytest` after every change."""

from ssmhub.testing import PluginConformance


class TestConformance(PluginConformance):
    model = "ornstein"
