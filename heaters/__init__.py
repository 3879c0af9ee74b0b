"""heaters: online videos into a reviewed, searchable library of clips."""

from __future__ import annotations

__version__ = "0.1.0"
