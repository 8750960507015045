"""Shared fixtures: paths to the reference data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    """``$PRIVHEALTH_SHARED_DATA``, else ``shared/data`` beside the checkout or one level up
    (a git worktree one folder below the main checkout's parent)."""
    env = os.environ.get("PRIVHEALTH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "data", REPO.parent.parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_DATA = _shared_data()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`: always present in CI; a test needing it is skipped only where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent on this machine")
    return SHARED_DATA
