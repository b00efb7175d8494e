"""GoogleEmulator's test helpers for Gmail's Pub/Sub pushes (pubsub.py), as a mixin."""

from __future__ import annotations

from .pubsub import DEFAULT_SERVICE_ACCOUNT, GmailWatch, PubSub, PubsubAttempt, Subscription


class PubsubHelpers:
    pubsub: PubSub
    url: str

    @property
    def certs_url(self) -> str:
        """Where the signing keys of ID tokens and push tokens are published, as
        {key id: X.509 PEM certificate} (Google's https://www.googleapis.com/oauth2/v1/certs
        shape, google-auth's verify_token default). The same keys as a JWKS: /oauth2/v3/certs."""
        return self.url + "oauth2/v1/certs"

    def pubsub_topic(
        self,
        topic_name: str,
        push_endpoint: str,
        audience: str | None = None,
        service_account_email: str = DEFAULT_SERVICE_ACCOUNT,
        *,
        subscription: str | None = None,
        publisher_granted: bool = True,
    ) -> Subscription:
        """Create (or replace) the Cloud Pub/Sub topic `projects/<project>/topics/<id>` with ONE
        authenticated push subscription to `push_endpoint`: `projects/<project>/subscriptions/
        <subscription or id + "-push">`, its tokens for `audience` (default: the endpoint) as
        `service_account_email`. `publisher_granted=False`: Gmail was not granted publish rights,
        so users.watch answers 403."""
        return self.pubsub.topic(
            topic_name,
            push_endpoint,
            audience,
            service_account_email,
            subscription,
            publisher_granted,
        )

    @property
    def gmail_watch(self) -> GmailWatch | None:
        """The mailbox's live watch (not stopped, not expired by `clock`), if any."""
        return self.pubsub.live_watch()

    @property
    def pubsub_log(self) -> list[PubsubAttempt]:
        """Every Pub/Sub push attempt so far, with its outcome, oldest first (a copy)."""
        with self.pubsub.lock:
            return list(self.pubsub.courier.log)

    def pubsub_faults(
        self, *, drop: float = 0.0, delay: float = 0.0, duplicate: float = 0.0
    ) -> None:
        """As push_faults, for Gmail's Pub/Sub messages: `drop` the chance one is never sent,
        `delay` the most seconds it waits, `duplicate` the chance it is pushed twice with one
        messageId (Pub/Sub delivers at least once). Drawn from the emulator's seed."""
        self.pubsub.faults(drop, delay, duplicate)

    def pubsub_token(
        self,
        audience: str,
        email: str = DEFAULT_SERVICE_ACCOUNT,
        *,
        expired: bool = False,
        key: str = "google",
    ) -> str:
        """A push token as Pub/Sub signs it; `key="other"`: signed by a key that is not
        published (under the published key's id), to forge; `expired`: an hour past exp."""
        return self.pubsub.token(audience, email, expired=expired, key=key)
