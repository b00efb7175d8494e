"""In-process HTTP emulators of third-party APIs, for tests."""

from __future__ import annotations
