"""The pages a browser sees at Google's authorization endpoint: the consent screen (with an
account chooser when more than one account is signed in) and the "Error 400: ..." pages.

Stable hooks for a browser test: the form posts to /o/oauth2/approve; its buttons are
<button id="submit_approve_access" name="decision" value="allow">Allow</button> and
<button id="submit_deny_access" name="decision" value="deny">Deny</button>; with several
accounts, each is a radio input name="account" labelled by its address.
"""

from __future__ import annotations

from html import escape

from .wire import Response

HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def _document(title: str, body: str) -> bytes:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{body}</body></html>\n"
    ).encode()


def error_page(status: int, error: str, detail: str) -> Response:
    """Google's error screen: the browser stays at Google, nothing reaches the client."""
    body = (
        f'<h1 id="error">Error {status}: {escape(error)}</h1>\n'
        f'<p id="error_detail">{escape(detail)}</p>\n'
    )
    return Response(status, _document(f"Error {status}: {error}", body), dict(HTML))


def consent_page(
    request_id: str, client_id: str, scopes: list[str], accounts: list[str], chosen: str
) -> Response:
    if len(accounts) > 1:
        choices = "".join(
            f'<li><label><input type="radio" name="account" value="{escape(a)}"'
            f"{' checked' if a == chosen else ''}> {escape(a)}</label></li>\n"
            for a in accounts
        )
        who = (
            '<fieldset id="accounts"><legend>Choose an account</legend>\n'
            f"<ul>\n{choices}</ul></fieldset>\n"
        )
    else:
        who = f'<p>Signed in as <span id="email">{escape(chosen)}</span></p>\n'
    wanted = "".join(f"<li>{escape(s)}</li>\n" for s in scopes)
    body = (
        "<h1>Sign in with Google</h1>\n"
        f'<p><span id="client_id">{escape(client_id)}</span> wants to access your Google '
        "Account</p>\n"
        '<form method="post" action="/o/oauth2/approve">\n'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">\n'
        f"{who}"
        f'<ul id="scopes">\n{wanted}</ul>\n'
        '<button type="submit" id="submit_approve_access" name="decision" value="allow">'
        "Allow</button>\n"
        '<button type="submit" id="submit_deny_access" name="decision" value="deny">'
        "Deny</button>\n"
        "</form>\n"
    )
    return Response(200, _document("Sign in - Google Accounts", body), dict(HTML))
