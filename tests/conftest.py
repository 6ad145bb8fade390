"""Shared pytest fixtures: tiny generated data, no network."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
