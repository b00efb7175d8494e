"""A local HTTP emulator of Google Calendar v3, Gmail v1 and Google's OAuth endpoints.

Usage::

    with GoogleEmulator(page_size=2) as google:
        service = build("calendar", "v3", static_discovery=True,
                        credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": google.url + "calendar/v3/"})
"""

from __future__ import annotations

from .emulator import GoogleEmulator
from .pubsub import GmailWatch, PubsubAttempt, Subscription
from .push import Channel
from .push_delivery import PushAttempt
from .wire import Logged

__all__ = [
    "Channel",
    "GmailWatch",
    "GoogleEmulator",
    "Logged",
    "PubsubAttempt",
    "PushAttempt",
    "Subscription",
]
