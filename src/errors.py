"""Exceptions raised by the framework: each names the input, column or setting at fault."""

from __future__ import annotations


class PrivHealthError(Exception):
    """Base class: an error the user can act on (bad input, bad setting, unmet privacy model)."""


class SchemaError(PrivHealthError, ValueError):
    """A table does not match its declared schema (missing/extra column, wrong type, empty file)."""


class ConfigError(PrivHealthError, ValueError):
    """A configuration value is invalid (unknown name, out-of-range parameter, conflicting roles)."""


class HierarchyError(PrivHealthError, ValueError):
    """A generalization hierarchy is malformed or does not cover a value of the data."""


class PrivacyModelError(PrivHealthError):
    """A privacy model cannot be satisfied, or a release fails the model it was asked to satisfy."""


class SecretError(PrivHealthError):
    """A required secret (e.g. the pseudonymization key) is missing or unusable."""
