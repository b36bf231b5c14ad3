"""Entry point of MediaNest's pytest plugin (``pytest11``): loads :mod:`medianest_core.testing` when its test
dependencies (``medianest-core[testing]``) are installed, and stays out of the way otherwise."""

from __future__ import annotations

import warnings

try:
    from medianest_core.testing import *  # noqa: F403
    from medianest_core.testing import pytest_configure, pytest_runtest_makereport  # noqa: F401
except ImportError as exc:  # pragma: no cover - only without the testing extra
    warnings.warn(
        f"MediaNest's pytest fixtures are unavailable ({exc}); install medianest-core[testing]",
        stacklevel=1,
    )
