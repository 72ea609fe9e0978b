"""actionlab's test suite: a package, so that the shared helpers import as `tests._engine_toys` etc."""
