"""Counts per state, for `heaters status` (the queries live in `heaters.store.reads`, shared with
the quick read path)."""

from __future__ import annotations

from heaters.store.reads import counts, failures

__all__ = ["counts", "failures"]
