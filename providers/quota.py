"""A request budget shared by every worker of a team: per Google project and per
Microsoft tenant, so that scaling out never turns into 429 storms (issue 9).

Sessions call `take(bucket, cost)` before each request goes out, with the cost the
provider counts (a batch costs one per part). On one machine nothing is installed and
nothing waits; a team worker installs a limiter shared through Redis (worker/team.py).
"""

from __future__ import annotations

from typing import Protocol


class Limiter(Protocol):
    def take(self, bucket: str, cost: int) -> None:
        """Return when `cost` requests may go out on `bucket`."""


_limiter: Limiter | None = None


def install(limiter: Limiter | None) -> None:
    global _limiter
    _limiter = limiter


def take(bucket: str, cost: int = 1) -> None:
    if _limiter is not None and bucket:
        _limiter.take(bucket, cost)


def google_bucket(credentials: object) -> str:
    """A Google project: the service account's, or the installed app's (its client id
    starts with the project number)."""
    project = getattr(credentials, "project_id", None)
    if project:
        return f"google:{project}"
    client = str(getattr(credentials, "client_id", None) or "")
    return f"google:{client.split('-', 1)[0]}" if client else ""


def microsoft_bucket(doc: dict[str, object]) -> str:
    """A Microsoft tenant, as the app sees it: Graph throttles per app and tenant."""
    client = str(doc.get("client_id") or "")
    tenant = str(doc.get("authority") or "").rstrip("/").rsplit("/", 1)[-1]
    return f"microsoft:{tenant}:{client}" if client else ""
