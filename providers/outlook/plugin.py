"""Outlook (Microsoft 365) as the registry knows it: the account keys, the `connect`
flags, and how an account opens. MSAL loads only when an account is opened or
connected."""

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
from providers.push import Reading
from worker.clock import Clock


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


class OutlookProvider(Provider):
    name = "outlook"
    connectable = True
    options: ClassVar[Mapping[str, Option]] = {
        "api_root": Option("url", "the Graph root: a national cloud, a proxy or an emulator"),
        "login_root": Option("https-url", "the sign-in root of a national cloud"),
    }

    def open(self, spec: AccountSpec, clock: Clock) -> tuple[CalendarProvider, MailProvider | None]:
        from providers.outlook.account import open_account

        return open_account(spec)

    def read_push(
        self, query: Mapping[str, str], headers: Mapping[str, str], body: bytes
    ) -> Reading:
        from providers.outlook.push import read

        return read(query, body)

    def connect_flags(self, parser: argparse.ArgumentParser) -> list[str]:
        group = parser.add_argument_group("outlook")
        group.add_argument(
            "--client-id", metavar="ID", help="Outlook: the app registration's application id"
        )
        group.add_argument(
            "--tenant", metavar="T", help="Outlook: tenant id or domain (default: organizations)"
        )
        group.add_argument(
            "--app-only",
            action="store_true",
            help="Outlook: the app acts for --user with admin consent, no sign-in",
        )
        group.add_argument("--user", metavar="ADDRESS", help="with --app-only: the mailbox")
        group.add_argument(
            "--client-secret-file", metavar="FILE", help="with --app-only: a file with the secret"
        )
        group.add_argument(
            "--certificate", metavar="PEM", help="with --app-only: the certificate's private key"
        )
        group.add_argument("--thumbprint", metavar="HEX", help="with --certificate: its thumbprint")
        group.add_argument(
            "--login-root",
            metavar="URL",
            help="Outlook: the sign-in root (default: the account's, else Microsoft's global)",
        )
        return [
            "client_id",
            "tenant",
            "app_only",
            "user",
            "client_secret_file",
            "certificate",
            "thumbprint",
            "login_root",
        ]

    def connect(self, spec: AccountSpec, args: argparse.Namespace) -> str:
        from providers.outlook.account import connect

        login_root = args.login_root or str(spec.options.get("login_root", ""))
        if login_root and not login_root.endswith("/"):
            login_root += "/"
        return connect(
            spec,
            client_id=args.client_id or "",
            tenant=args.tenant or "",
            login_root=login_root,
            app_only=args.app_only,
            user=args.user or "",
            client_secret_file=_path(args.client_secret_file),
            certificate=_path(args.certificate),
            thumbprint=args.thumbprint or "",
        )

    def forget(self, spec: AccountSpec) -> str:
        from providers.outlook.account import forget

        return forget(spec)

    signin_options: ClassVar[Mapping[str, Option]] = {
        "client_id": Option("text", "the app registration's application (client) id"),
        "client_secret_file": Option("path", "a file holding the app's client secret"),
        "certificate": Option("path", "or: the app's certificate key (PEM)"),
        "thumbprint": Option("text", "with certificate: its SHA-1 thumbprint (hex)"),
        "tenant": Option("text", "the tenant id or domain; default organizations"),
        "login_root": Option("https-url", "the sign-in root of a national cloud"),
        "api_root": Option("url", "the Graph root accounts that sign in get"),
    }

    def web_signin(self, options: Mapping[str, Any]) -> WebSignIn:
        from providers.outlook.web import MicrosoftWebSignIn

        return MicrosoftWebSignIn(options)

    def connected(self, spec: AccountSpec) -> bool:
        from providers.outlook.account import connected

        return connected(spec)

    def admin_granted(self, spec: AccountSpec) -> bool:
        from providers.outlook.account import admin_granted

        return admin_granted(spec)

    def keep_grant(self, spec: AccountSpec, grant: dict[str, Any]) -> str:
        from providers.outlook.account import keep_grant

        return keep_grant(spec, grant)
