"""/push/NAME: where providers post changes (worker/push.py). No session and no CSRF
token: a notification proves itself by its channel's token, checked against the
digest kept when the channel was made. A refused one changes nothing.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from providers import registry
from providers.errors import BadRequest
from providers.push import Reading
from worker import config as cfg
from worker import push
from worker.web.site import Site

LARGEST = 1024 * 1024  # Graph batches notifications; none comes near this


class PushReceiver:
    def __init__(self, site: Site) -> None:
        self.site = site

    async def receive(self, request: Request) -> Response:
        name = request.path_params["provider"]
        config = self.site.load()
        if not push.enabled(config) or name not in registry.names():
            return PlainTextResponse("no push here\n", status_code=404)
        if int(request.headers.get("content-length") or 0) > LARGEST:
            return PlainTextResponse("too large\n", status_code=413)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            reading = registry.provider(name).read_push(dict(request.query_params), headers, body)
        except BadRequest as exc:
            return PlainTextResponse(f"{exc}\n", status_code=400)
        if reading.reply is not None:  # a handshake: echo it, as plain text
            return PlainTextResponse(reading.reply)
        got = await run_in_threadpool(self._take, config, name, reading)
        if got.refused and not got.accepted:
            return PlainTextResponse("refused\n", status_code=403)
        return Response(status_code=202)

    def _take(self, config: cfg.Config, name: str, reading: Reading) -> push.Received:
        with self.site.writing(config) as state:
            return push.receive(config, name, reading, state, self.site.clock.now())
