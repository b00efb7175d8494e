"""/push/NAME: where providers post changes (worker/push.py). No session and no CSRF
token: a notification proves itself by its channel's token, checked against the
digest kept when the channel was made; Gmail's, through Pub/Sub, by Google's signed
token for the push subscription (providers/google/pubsub.py). A refused one changes
nothing.
"""

from __future__ import annotations

import logging
import os

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from providers import registry
from providers.errors import BadRequest
from providers.push import Reading
from worker import config as cfg
from worker import push
from worker.web.site import Site

LOG = logging.getLogger("firstblock.push")
LARGEST = 1024 * 1024  # Graph batches notifications; none comes near this


class PushReceiver:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def receive(self, request: Request) -> Response:
        name = request.path_params["provider"]
        config = self.site.load()
        gmail = name == "gmail" and bool(config.push.gmail_topic)
        if not push.enabled(config) or not (gmail or name in registry.names()):
            return PlainTextResponse("no push here\n", status_code=404)
        body = b""
        async for chunk in request.stream():  # whatever Content-Length claims
            body += chunk
            if len(body) > LARGEST:
                return PlainTextResponse("too large\n", status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            if gmail:
                reading, name = await run_in_threadpool(_gmail, config, headers, body), "google"
            else:
                query = dict(request.query_params)
                reading = registry.provider(name).read_push(query, headers, body)
        except BadRequest as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        except PermissionError as exc:  # Gmail's token did not hold
            LOG.warning("push: refused a gmail notification: %s", exc)
            return PlainTextResponse("refused\n", status_code=403)
        if reading.reply is not None:  # a handshake: echo it, as plain text
            return PlainTextResponse(reading.reply)
        got = await run_in_threadpool(self._take, config, name, reading)
        if got.refused and not got.accepted:
            return PlainTextResponse("refused\n", status_code=403)
        return Response(status_code=202)

    def _take(self, config: cfg.Config, name: str, reading: Reading) -> push.Received:
        # In a team (a broker is set) the cycles are queued from here, after the
        # debounce; on one machine `serve` takes the nudges.
        team = bool(os.environ.get("FIRSTBLOCK_BROKER_URL"))
        with self.site.writing(config) as state:
            now = self.site.clock.now()
            got = push.receive(config, name, reading, state, now, queued=team)
        if team and got.first:
            from worker import team as celery

            celery.queue_pushed(sorted(got.first), config.push.debounce_seconds)
        return got


def _gmail(config: cfg.Config, headers: dict[str, str], body: bytes) -> Reading:
    from providers.google import pubsub

    p = config.push
    return pubsub.read(
        headers,
        body,
        audience=p.gmail_audience,
        service_account=p.gmail_service_account,
        certs_url=p.gmail_certs_url,
    )
