"""Google as the registry knows it: the account keys, the `connect` flags, and how an
account opens. The Google libraries load only when an account is opened or connected."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from providers.base import (
    AccountSpec,
    CalendarProvider,
    MailProvider,
    Option,
    Provider,
    WebSignIn,
)
from providers.errors import BadRequest
from providers.push import Reading
from worker.clock import Clock


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


class GoogleProvider(Provider):
    name = "google"
    connectable = True
    options: ClassVar[Mapping[str, Option]] = {
        "api_root": Option("url", "the API root: a proxy or an emulator; default Google's"),
    }

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        from providers.google.account import open_account

        return open_account(spec)

    def read_push(
        self, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Reading:
        from providers.google.push import read

        return read(headers)

    def connect_flags(self, parser: argparse.ArgumentParser) -> list[str]:
        group = parser.add_argument_group("google")
        group.add_argument(
            "--client-secrets", metavar="FILE", help="Google: the OAuth client file (Desktop app)"
        )
        group.add_argument(
            "--no-browser",
            action="store_true",
            help="print the sign-in address instead of opening a browser, and read the answer",
        )
        group.add_argument(
            "--service-account", metavar="KEY", help="Google Workspace: a service account key"
        )
        group.add_argument(
            "--subject", metavar="USER", help="with --service-account: the user to act for"
        )
        return ["client_secrets", "no_browser", "service_account", "subject"]

    def connect(self, spec: AccountSpec, args: argparse.Namespace) -> str:
        from providers.google.account import connect

        return connect(
            spec,
            client_secrets=_path(args.client_secrets),
            service_account_key=_path(args.service_account),
            subject=args.subject or "",
            open_browser=not args.no_browser,
        )

    def forget(self, spec: AccountSpec) -> str:
        from providers.google.account import forget

        return forget(spec)

    signin_options: ClassVar[Mapping[str, Option]] = {
        "client_secrets": Option("path", "the OAuth client file of a Web application"),
        "api_root": Option("url", "the API root accounts that sign in get; default Google's"),
    }

    def web_signin(self, options: Mapping[str, Any]) -> WebSignIn:
        from providers.google.web import GoogleWebSignIn

        if not options.get("client_secrets"):
            raise BadRequest("web.google.client_secrets: the Web application's client file")
        return GoogleWebSignIn(Path(options["client_secrets"]))

    def connected(self, spec: AccountSpec) -> bool:
        from providers.google.account import connected

        return connected(spec)

    def admin_granted(self, spec: AccountSpec) -> bool:
        from providers.google.account import admin_granted

        return admin_granted(spec)

    def keep_grant(self, spec: AccountSpec, grant: dict[str, Any]) -> str:
        from providers.google.account import keep_grant

        return keep_grant(spec, grant)
