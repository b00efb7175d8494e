"""firstblock: prospecting first, deals, prep, admin last."""

from __future__ import annotations

__version__ = "0.1.0"
