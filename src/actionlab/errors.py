"""User-facing errors: the CLI prints their message on one line and exits 2."""

from __future__ import annotations


class ActionlabError(Exception):
    """An error caused by the user's input (config, data, arguments), not a bug."""

    exit_code = 2


class ConfigError(ActionlabError):
    """A config file or override that does not fit the schema."""


class DataError(ActionlabError):
    """A dataset, annotation line or video that cannot be used."""


class ModelError(ActionlabError):
    """Unknown model name, incompatible checkpoint or weights."""


class NotBuiltError(ActionlabError):
    """A feature that is not built yet: said plainly, never faked."""

    exit_code = 1
