"""Publish and pull ssmhub networks through a Hugging Face Hub registry.

This distribution is installable and registered as a plugin; its network source and
commands arrive with the registry issue.
"""
