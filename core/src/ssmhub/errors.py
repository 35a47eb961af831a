"""Errors that are the user's to fix: the CLI prints them without a traceback and exits 2."""

from __future__ import annotations

import difflib


class SsmhubError(Exception):
    """Base of every error ssmhub raises on bad input or configuration."""


class ThetaError(SsmhubError, ValueError):
    """Parameter values that do not fit a model's spec."""


class ChoicesError(SsmhubError, ValueError):
    """A component that cannot represent a model's number of choices."""


class UnknownModelError(SsmhubError, LookupError):
    """A model name that no installed plugin registers."""

    def __init__(self, name: str, available: list[str]) -> None:
        close = difflib.get_close_matches(name, available, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(available) if available else "none (install a plugin, e.g. ssmhub-ddm)"
        super().__init__(f"unknown model {name!r}.{hint} Installed models: {listing}")


class UnknownLikelihoodError(SsmhubError, LookupError):
    """A likelihood name that no plugin offers for a model."""

    def __init__(self, name: str, model: str, available: list[str]) -> None:
        listing = ", ".join(map(repr, available)) or (
            "none (train a network with `ssmhub generate` and `ssmhub train`)"
        )
        super().__init__(f"no likelihood {name!r} for model {model!r}; available: {listing}")


class PluginError(SsmhubError):
    """A plugin's hook raised something other than an `SsmhubError`: a bug in that plugin."""


class ModelConflictError(SsmhubError, LookupError):
    """Two plugins registered the same model name; neither is used."""
