"""User-facing errors: the CLI prints their message on one line and exits 2."""

from __future__ import annotations

import importlib
import logging
from types import ModuleType


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


class MissingDependencyError(ActionlabError):
    """A feature needs an optional package that is not installed (or does not import); the message names the
    `pip install 'actionlab[extra]'` that brings it."""


def require(module: str, extra: str, feature: str, package: str | None = None, native: bool = False) -> ModuleType:
    """`importlib.import_module(module)` for `feature`, or one MissingDependencyError, the same for every optional
    package: "FEATURE needs PACKAGE, which is not installed: pip install 'actionlab[EXTRA]'" (or, when the package is
    there but its import fails, the reason).  `package`: the pip name (default: the module's top level).
    `native`: the package loads system libraries when imported (torchcodec's FFmpeg), so an OSError or RuntimeError
    there is a failed import too."""
    failures = (ImportError, OSError, RuntimeError) if native else (ImportError,)
    try:
        return importlib.import_module(module)
    except failures as e:
        package = package or module.split(".")[0].replace("_", "-")
        missing = isinstance(e, ModuleNotFoundError) and e.name is not None and (
            module == e.name or module.startswith(e.name + "."))
        reason = "which is not installed" if missing else f"which does not import ({e})"
        raise MissingDependencyError(f"{feature} needs {package}, {reason}: pip install 'actionlab[{extra}]'") from e


def optional(module: str, extra: str, feature: str, package: str | None = None, native: bool = False
             ) -> ModuleType | None:
    """`require`, for a feature a command does without (a plot beside the numbers it writes): a missing package is
    one logged warning, "skipped: " and require's message, and None."""
    try:
        return require(module, extra, feature, package, native)
    except MissingDependencyError as e:
        logging.getLogger("actionlab").warning("skipped: %s", e)
        return None


def os_error_in(error: BaseException | None) -> OSError | None:
    """The OSError behind `error`: itself, or the first in its cause / context chain.

    torch's zip writer reports a failed write of the file object (ENOSPC, EDQUOT) as
    RuntimeError("... unexpected pos N vs M") with the OSError only as its context, so a full disk is
    recognised by the errno in the chain, never by the words of the message."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError):
            return error
        error = error.__cause__ or error.__context__
    return None
