"""Google's API objects, built once per process and shared by every session.

googleapiclient makes a resource's methods afresh, docstrings and all, each time the
resource is asked for (`service.events()`): two thirds of a steady Google cycle's
CPU. The objects here hold no account and no connection. Their own http refuses to
send; a session puts its own on each request before sending it (Session.call,
Session.batch), as googleapiclient's thread-safety notes suggest.
"""

from __future__ import annotations

import functools
from typing import Any

from googleapiclient.discovery import Resource, build


class Unbound:
    """The http of the shared objects: a request must go out on its session's."""

    credentials = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a Google request was sent without its session's http")


class Resources:
    """A resource whose child resources are made once, then reused. Two threads
    asking for a new child at once each make one and keep the first stored."""

    def __init__(self, resource: Resource) -> None:
        self._resource = resource
        self._children: dict[str, Resources] = {}

    def __getattr__(self, name: str) -> Any:
        child = self._children.get(name)
        if child is not None:
            return lambda: child
        attr = getattr(self._resource, name)
        if not getattr(attr, "__is_resource__", False):
            return attr  # an API method: it makes a request, never kept

        def made() -> Resources:
            return self._children.setdefault(name, Resources(attr()))

        return made


@functools.lru_cache(maxsize=16)  # endpoints: Google's two, or a proxy's, or tests'
def service(name: str, version: str, endpoint: str) -> Resources:
    built = build(
        name,
        version,
        http=Unbound(),
        static_discovery=True,  # no discovery request: the documents ship with it
        cache_discovery=False,
        num_retries=0,
        client_options={"api_endpoint": endpoint},
    )
    return Resources(built)
