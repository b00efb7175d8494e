"""A local HTTPS emulator of Microsoft Graph v1.0 (Outlook calendar + mail) and the Microsoft
identity platform endpoints MSAL uses.

Usage::

    with GraphEmulator() as graph:
        graph.app("client-id")
        graph.user("rep@contoso.com")
        app = msal.PublicClientApplication(
            "client-id", authority=graph.url + "organizations", http_client=graph.http_client()
        )
        # Graph lives at graph.url + "v1.0/"; trust graph.ca_file (verify= or REQUESTS_CA_BUNDLE).

Change notifications: POST graph.url + "v1.0/subscriptions" with a loopback http receiver
(see push_helpers.py: push_log, wait_for_push, lifecycle, push_faults, expire_subscription).
"""

from __future__ import annotations

from .emulator import GraphEmulator
from .wire import Logged

__all__ = ["GraphEmulator", "Logged"]
