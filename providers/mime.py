"""An alert's body as MIME, for the mailboxes that store whole messages (Maildir,
Gmail): plain text, with the HTML as its alternative and the HTML's pictures as
inline parts related to it (multipart/related), which the HTML names by cid:.
Boundaries come from `seed`, not chance: the same alert makes the same bytes."""

from __future__ import annotations

from email.message import EmailMessage

from worker.models import Alert


def fill(msg: EmailMessage, alert: Alert, seed: str) -> None:
    msg.set_content(alert.text)
    if not alert.html:
        return
    msg.add_alternative(alert.html, subtype="html")
    msg.set_boundary(f"==firstblock-{seed}")
    if not alert.images:
        return
    html = msg.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage)  # the alternative just added
    for image in alert.images:
        html.add_related(
            image.png,
            "image",
            "png",
            cid=f"<{image.cid}>",
            filename=f"{image.name}.png",
            disposition="inline",  # shown in the HTML, not listed as an attachment
        )
    html.set_boundary(f"==firstblock-{seed}-related")
