"""The Google emulator, driven only through the real google-api-python-client and raw HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httplib2
import pytest
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as AuthRequest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tests.emulators.google import GoogleEmulator

Json = dict[str, Any]
EMAIL = "rep@example.com"
FOCUS = {"autoDeclineMode": "declineNone", "chatStatus": "doNotDisturb"}


def timed(start: str, end: str, **extra: Any) -> Json:
    return {"start": {"dateTime": start}, "end": {"dateTime": end}, **extra}


def calendar_service(google: GoogleEmulator, credentials: Any = None) -> Any:
    return build(
        "calendar",
        "v3",
        static_discovery=True,
        credentials=credentials or AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": google.url + "calendar/v3/"},
    )


def gmail_service(google: GoogleEmulator, credentials: Any = None) -> Any:
    return build(
        "gmail",
        "v1",
        static_discovery=True,
        credentials=credentials or AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": google.url},
    )


def raw(
    google: GoogleEmulator,
    method: str,
    path: str,
    query: dict[str, Any] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """A request the client library would refuse to send; answers (status, parsed JSON)."""
    url = google.url + path + ("?" + urlencode(query, doseq=True) if query else "")
    data = json.dumps(body) if body is not None else None
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    resp, content = httplib2.Http().request(url, method, body=data, headers=hdrs)
    return resp.status, json.loads(content) if content else None


def list_all(cal: Any, **params: Any) -> list[Json]:
    items: list[Json] = []
    request = cal.events().list(calendarId="primary", **params)
    while request is not None:
        page = request.execute()
        items += page["items"]
        request = cal.events().list_next(request, page)
    return items


def reason(err: HttpError) -> str:
    return str(json.loads(err.content)["error"]["errors"][0]["reason"])


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(page_size=2) as emulator:
        yield emulator


@pytest.fixture
def cal(google: GoogleEmulator) -> Any:
    return calendar_service(google)


@pytest.fixture
def gmail(google: GoogleEmulator) -> Any:
    return gmail_service(google)


# ---- Calendar ---------------------------------------------------------------------------------


def test_insert_with_client_id_then_duplicate_even_after_delete(cal: Any) -> None:
    body = timed("2024-05-01T09:00:00-04:00", "2024-05-01T10:00:00-04:00", id="block0001")
    made = cal.events().insert(calendarId="primary", body=body).execute()
    assert made["id"] == "block0001" and made["status"] == "confirmed"
    assert made["etag"].startswith('"') and made["organizer"] == {"email": EMAIL, "self": True}
    with pytest.raises(HttpError) as dup:
        cal.events().insert(calendarId="primary", body=body).execute()
    assert dup.value.resp.status == 409 and reason(dup.value) == "duplicate"
    cal.events().delete(calendarId="primary", eventId="block0001").execute()
    with pytest.raises(HttpError) as again:
        cal.events().insert(calendarId="primary", body=body).execute()
    assert again.value.resp.status == 409
    with pytest.raises(HttpError) as gone:
        cal.events().delete(calendarId="primary", eventId="block0001").execute()
    assert gone.value.resp.status == 410 and reason(gone.value) == "deleted"
    got = cal.events().get(calendarId="primary", eventId="block0001").execute()
    assert got["status"] == "cancelled"
    restored = (
        cal.events()
        .patch(calendarId="primary", eventId="block0001", body={"status": "confirmed"})
        .execute()
    )
    assert restored["status"] == "confirmed"


def test_insert_rejects_an_id_outside_base32hex(cal: Any) -> None:
    body = timed("2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", id="Block-with-w")
    with pytest.raises(HttpError) as err:
        cal.events().insert(calendarId="primary", body=body).execute()
    assert err.value.resp.status == 400 and reason(err.value) == "invalid"


def test_stale_if_match_is_412_and_fresh_one_succeeds(google: GoogleEmulator, cal: Any) -> None:
    made = (
        cal.events()
        .insert(calendarId="primary", body=timed("2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
        .execute()
    )
    google.patch_event(made["id"], {"summary": "moved by the user"})
    request = cal.events().patch(calendarId="primary", eventId=made["id"], body={"summary": "x"})
    request.headers["If-Match"] = made["etag"]
    with pytest.raises(HttpError) as err:
        request.execute()
    detail = json.loads(err.value.content)["error"]["errors"][0]
    assert err.value.resp.status == 412
    assert detail == {
        "domain": "global",
        "reason": "conditionNotMet",
        "message": "Precondition Failed",
        "location": "If-Match",
        "locationType": "header",
    }
    fresh = google.event(made["id"])
    assert fresh is not None
    request = cal.events().patch(calendarId="primary", eventId=made["id"], body={"summary": "y"})
    request.headers["If-Match"] = fresh["etag"]
    assert request.execute()["etag"] != fresh["etag"]


def test_focus_time_rules(cal: Any) -> None:
    ok = timed(
        "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", eventType="focusTime",
        focusTimeProperties=FOCUS, transparency="opaque",
    )  # fmt: skip
    made = cal.events().insert(calendarId="primary", body=ok).execute()
    assert made["eventType"] == "focusTime"
    bad = [
        {**ok, "start": {"date": "2024-05-01"}, "end": {"date": "2024-05-02"}},
        {**ok, "transparency": "transparent"},
        {k: v for k, v in ok.items() if k != "focusTimeProperties"},
        {**ok, "eventType": "fromGmail"},
        {**ok, "eventType": "workingLocation"},
    ]
    for body in bad:
        with pytest.raises(HttpError) as err:
            cal.events().insert(calendarId="primary", body=body).execute()
        assert err.value.resp.status == 400, body
    with pytest.raises(HttpError) as immutable:
        cal.events().patch(
            calendarId="primary", eventId=made["id"], body={"eventType": "default"}
        ).execute()
    assert immutable.value.resp.status == 400


def test_focus_time_unavailable_on_the_account() -> None:
    with GoogleEmulator(focus_time=False) as google:
        body = timed(
            "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z", eventType="focusTime",
            focusTimeProperties=FOCUS,
        )  # fmt: skip
        with pytest.raises(HttpError) as err:
            calendar_service(google).events().insert(calendarId="primary", body=body).execute()
    assert err.value.resp.status == 400 and reason(err.value) == "invalid"
    assert "not available" in json.loads(err.value.content)["error"]["message"]


def test_list_pages_by_page_size_with_sync_token_only_on_the_last_page(
    google: GoogleEmulator, cal: Any
) -> None:
    for day in range(1, 6):
        google.put_event(timed(f"2024-05-0{day}T09:00:00Z", f"2024-05-0{day}T10:00:00Z"))
    google.put_event(timed("2024-06-01T09:00:00Z", "2024-06-01T10:00:00Z"))
    seen, pages, token = [], 0, None
    while True:
        page = cal.events().list(
            calendarId="primary", singleEvents=True, orderBy="startTime", pageToken=token,
            timeMin="2024-05-01T00:00:00Z", timeMax="2024-05-31T00:00:00Z",
        ).execute()  # fmt: skip
        pages += 1
        seen += [ev["start"]["dateTime"][:10] for ev in page["items"]]
        assert page["timeZone"] == "America/New_York" and page["accessRole"] == "owner"
        token = page.get("nextPageToken")
        if token is None:
            assert "nextSyncToken" in page
            break
        assert "nextSyncToken" not in page
    assert pages == 3 and seen == [f"2024-05-0{d}" for d in range(1, 6)]


def test_single_events_expand_a_weekly_rule_across_the_dst_change(
    google: GoogleEmulator, cal: Any
) -> None:
    series = (
        cal.events()
        .insert(
            calendarId="primary",
            body={
                "summary": "Prospecting",
                "start": {"dateTime": "2024-03-04T09:00:00", "timeZone": "America/New_York"},
                "end": {"dateTime": "2024-03-04T10:00:00", "timeZone": "America/New_York"},
                "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20240318T130000Z"],
                "extendedProperties": {"private": {"fbw": "1"}},
            },
        )
        .execute()
    )
    listed = list_all(cal, singleEvents=True, orderBy="startTime", privateExtendedProperty="fbw=1")
    assert [ev["id"] for ev in listed] == [
        f"{series['id']}_20240304T140000Z",
        f"{series['id']}_20240311T130000Z",  # 09:00 EDT after the 10 March change
        f"{series['id']}_20240325T130000Z",
    ]
    second = listed[1]
    assert second["start"]["dateTime"] == "2024-03-11T09:00:00-04:00"
    assert second["recurringEventId"] == series["id"]
    assert second["originalStartTime"]["dateTime"] == "2024-03-11T09:00:00-04:00"
    # Editing one instance stores an exception that replaces the generated occurrence.
    cal.events().patch(
        calendarId="primary", eventId=second["id"], body={"summary": "Moved"}
    ).execute()
    cal.events().delete(calendarId="primary", eventId=listed[2]["id"]).execute()
    again = list_all(cal, singleEvents=True, orderBy="startTime")
    assert [ev.get("summary") for ev in again] == ["Prospecting", "Moved"]
    assert google.event(listed[2]["id"])["status"] == "cancelled"  # type: ignore[index]


def test_sync_token_incremental_then_expired(google: GoogleEmulator, cal: Any) -> None:
    kept = google.put_event(timed("2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"))
    doomed = google.put_event(timed("2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z"))
    token, items = None, []
    request = cal.events().list(calendarId="primary")
    while request is not None:
        page = request.execute()
        items += page["items"]
        token = page.get("nextSyncToken", token)
        request = cal.events().list_next(request, page)
    assert len(items) == 2 and token
    google.put_event(timed("2024-05-03T09:00:00Z", "2024-05-03T10:00:00Z", id="newer0001"))
    cal.events().delete(calendarId="primary", eventId=doomed["id"]).execute()
    changed = cal.events().list(calendarId="primary", syncToken=token).execute()
    assert {ev["id"]: ev["status"] for ev in changed["items"]} == {
        "newer0001": "confirmed",
        doomed["id"]: "cancelled",
    }
    assert kept["id"] not in {ev["id"] for ev in changed["items"]}
    with pytest.raises(HttpError) as incompatible:
        cal.events().list(
            calendarId="primary", syncToken=token, timeMin="2024-01-01T00:00:00Z"
        ).execute()
    assert incompatible.value.resp.status == 400
    google.expire_sync_tokens()
    for stale in (changed["nextSyncToken"], "garbled"):
        with pytest.raises(HttpError) as gone:
            cal.events().list(calendarId="primary", syncToken=stale).execute()
        assert gone.value.resp.status == 410 and reason(gone.value) == "fullSyncRequired"


def test_batch_insert_of_three_events(google: GoogleEmulator, cal: Any) -> None:
    results: dict[str, Any] = {}

    def done(request_id: str, response: Any, exception: HttpError | None) -> None:
        results[request_id] = exception or response

    batch = BatchHttpRequest(callback=done, batch_uri=google.url + "batch/calendar/v3")
    body = timed("2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z")
    for n in (0, 1, 2, 0):
        batch.add(cal.events().insert(calendarId="primary", body={**body, "id": f"batch000{n}"}))
    batch.execute()
    assert [results[str(n)]["id"] for n in (1, 2, 3)] == ["batch0000", "batch0001", "batch0002"]
    assert isinstance(results["4"], HttpError) and results["4"].resp.status == 409
    assert [(r.batch_part, r.status) for r in google.requests] == [(False, 200)] + [
        (True, 200)
    ] * 3 + [(True, 409)]


def test_gmail_batch_is_limited_to_100_parts(google: GoogleEmulator, gmail: Any) -> None:
    batch = BatchHttpRequest(batch_uri=google.url + "batch/gmail/v1")
    for _ in range(101):
        batch.add(gmail.users().getProfile(userId="me"))
    with pytest.raises(HttpError) as err:
        batch.execute()
    assert err.value.resp.status == 400


def test_requests_are_validated_against_the_discovery_document(google: GoogleEmulator) -> None:
    events = "calendar/v3/calendars/primary/events"
    status, body = raw(google, "GET", events, {"colour": "red"})
    assert status == 400 and body["error"]["errors"][0]["reason"] == "badRequest"
    assert body["error"]["errors"][0]["location"] == "colour"
    assert raw(google, "GET", events, {"orderBy": "random"})[0] == 400
    assert raw(google, "GET", events, {"singleEvents": "yes"})[0] == 400
    assert raw(google, "GET", events, {"maxResults": "0"})[0] == 400
    assert raw(google, "GET", events, {"q": ["a", "b"]})[0] == 400
    assert raw(google, "GET", events, {"timeMin": "2024-05-01T00:00:00"})[0] == 400
    start = {"dateTime": "2024-05-01T09:00:00Z"}
    body_cases = [
        [1, 2],
        {"start": start, "end": start, "colour": "red"},
        {"start": {**start, "tz": "UTC"}, "end": start},
        {"start": start, "end": start, "attendees": "everyone"},
    ]
    for case in body_cases:
        assert raw(google, "POST", events, body=case)[0] == 400, case
    labels = "gmail/v1/users/me/labels"
    assert (
        raw(google, "POST", labels, body={"name": "X", "labelListVisibility": "sometimes"})[0]
        == 400
    )
    assert raw(google, "GET", "calendar/v3/nowhere")[0] == 404
    status, body = raw(google, "POST", events + "/quickAdd", {"text": "Lunch"})
    assert status == 501 and "not implemented" in body["error"]["message"]
    assert google.calendar.events == {}


def test_settings_follow_the_timezone(google: GoogleEmulator, cal: Any) -> None:
    assert cal.settings().get(setting="timezone").execute()["value"] == "America/New_York"
    google.timezone = "Europe/Berlin"
    assert cal.settings().get(setting="timezone").execute()["value"] == "Europe/Berlin"
    assert cal.calendarList().get(calendarId="primary").execute()["timeZone"] == "Europe/Berlin"
    with pytest.raises(HttpError) as err:
        cal.settings().get(setting="nonsense").execute()
    assert err.value.resp.status == 404


# ---- Gmail ------------------------------------------------------------------------------------


def test_label_names_must_be_unique(gmail: Any) -> None:
    made = gmail.users().labels().create(userId="me", body={"name": "Snoozed/Admin"}).execute()
    assert made["id"].startswith("Label_") and made["type"] == "user"
    for name in ("snoozed/admin", "Inbox"):
        with pytest.raises(HttpError) as err:
            gmail.users().labels().create(userId="me", body={"name": name}).execute()
        error = json.loads(err.value.content)["error"]
        assert err.value.resp.status == 409 and error["status"] == "FAILED_PRECONDITION"
        assert error["errors"][0]["reason"] == "failedPrecondition"
    listed = gmail.users().labels().list(userId="me").execute()["labels"]
    assert "Snoozed/Admin" in {lb["name"] for lb in listed} and "INBOX" in {
        lb["id"] for lb in listed
    }


def test_messages_list_with_search_terms(google: GoogleEmulator, gmail: Any) -> None:
    label = gmail.users().labels().create(userId="me", body={"name": "Snoozed/Deal Desk"}).execute()
    base = datetime(2024, 5, 1, 12, tzinfo=UTC)
    old = google.arrive(sender="Ann <ann@client.org>", received=base)
    new = google.arrive(sender="bob@vendor.com", received=base + timedelta(hours=2))
    held = google.arrive(
        sender="cat@client.org", received=base - timedelta(hours=1), labels=[label["id"]]
    )

    def ids(q: str, **extra: Any) -> list[str]:
        # Not list_next(): googleapiclient raises ValueError there when a parameter repeats
        # (labelIds=[...] below), so pass pageToken explicitly.
        found: list[str] = []
        token = None
        while True:
            page = (
                gmail.users().messages().list(userId="me", q=q, pageToken=token, **extra).execute()
            )
            found += [m["id"] for m in page.get("messages", [])]
            token = page.get("nextPageToken")
            if token is None:
                return found

    assert ids("in:inbox") == [new, old]  # newest first
    assert ids("from:client.org") == [old, held]
    assert ids("label:snoozed-deal-desk") == [held]
    assert ids("in:inbox -from:vendor.com") == [old]
    assert ids(f"after:{int(base.timestamp()) + 1}") == [new]
    assert ids("(from:vendor.com OR label:snoozed-deal-desk)") == [new, held]
    assert ids("{from:vendor.com from:ann@}") == [new, old]
    assert ids(f"before:{int(base.timestamp())}") == [held]
    assert ids("", labelIds=["INBOX", "UNREAD"], maxResults=1) == [new, old]  # two pages
    with pytest.raises(HttpError) as err:
        ids("invoice")
    assert err.value.resp.status == 400 and "emulator: unsupported query syntax" in str(err.value)
    meta = (
        gmail.users()
        .messages()
        .get(userId="me", id=old, format="metadata", metadataHeaders=["from", "Subject"])
        .execute()
    )
    assert [h["name"] for h in meta["payload"]["headers"]] == ["From", "Subject"]
    assert meta["labelIds"] == ["INBOX", "UNREAD"] and meta["snippet"] == "Hi there"


def test_batch_modify(google: GoogleEmulator, gmail: Any) -> None:
    label = gmail.users().labels().create(userId="me", body={"name": "Snoozed"}).execute()
    ids = [google.arrive(sender="a@b.c", received=datetime(2024, 5, 1, tzinfo=UTC)) for _ in "ab"]
    body = {
        "ids": [*ids, "ffffffffffffffff"],
        "addLabelIds": [label["id"]],
        "removeLabelIds": ["INBOX"],
    }
    assert gmail.users().messages().batchModify(userId="me", body=body).execute() in ("", None, {})
    assert all(google.message(i)["labelIds"] == ["UNREAD", label["id"]] for i in ids)
    messages: list[str] = []
    for bad in (
        {"ids": [str(n) for n in range(1001)], "addLabelIds": ["INBOX"]},
        {"ids": ids, "addLabelIds": ["Label_999"]},
        {"ids": ids, "addLabelIds": ["SENT"]},
    ):
        with pytest.raises(HttpError) as err:
            gmail.users().messages().batchModify(userId="me", body=bad).execute()
        assert err.value.resp.status == 400 and reason(err.value) == "invalidArgument"
        messages.append(json.loads(err.value.content)["error"]["message"])
    assert messages == [
        "Number of ids cannot exceed 1000",
        "Invalid label: Label_999",
        "Invalid label: SENT",
    ]


def test_filters_apply_on_arrival_but_not_to_inserted_mail(
    google: GoogleEmulator, gmail: Any
) -> None:
    label = gmail.users().labels().create(userId="me", body={"name": "Vendors"}).execute()
    action = {"addLabelIds": [label["id"]], "removeLabelIds": ["INBOX"]}
    made = (
        gmail.users()
        .settings()
        .filters()
        .create(userId="me", body={"criteria": {"from": "vendor.com"}, "action": action})
        .execute()
    )
    assert google.filters()[0]["id"] == made["id"]
    with pytest.raises(HttpError):
        gmail.users().settings().filters().create(userId="me", body={"action": action}).execute()
    filtered = google.arrive(sender="sales@vendor.com", received=datetime(2024, 5, 1, tzinfo=UTC))
    other = google.arrive(sender="ann@client.org", received=datetime(2024, 5, 1, tzinfo=UTC))
    assert google.message(filtered)["labelIds"] == ["UNREAD", label["id"]]
    assert google.message(other)["labelIds"] == ["INBOX", "UNREAD"]
    mail = b"From: sales@vendor.com\r\nTo: rep@example.com\r\nSubject: Hi\r\n\r\nBody\r\n"
    inserted = (
        gmail.users()
        .messages()
        .insert(userId="me", body={"raw": base64url(mail), "labelIds": ["INBOX"]})
        .execute()
    )
    assert google.message(inserted["id"])["labelIds"] == ["INBOX"]
    assert google.message(inserted["id"])["raw"] == mail


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


# ---- faults -----------------------------------------------------------------------------------


def test_fail_next_429_carries_retry_after_and_early_retries_are_counted(
    google: GoogleEmulator, cal: Any
) -> None:
    google.fail_next("429", retry_after=0.2, path_contains="/events")
    with pytest.raises(HttpError) as err:
        cal.events().list(calendarId="primary").execute()
    assert err.value.resp.status == 429 and err.value.resp["retry-after"] == "0.2"
    assert reason(err.value) == "rateLimitExceeded"
    cal.events().list(calendarId="primary").execute()  # too soon
    assert google.early_retries == 1


def test_dropped_connection_reaches_the_client(google: GoogleEmulator, cal: Any) -> None:
    # httplib2 silently resends once after a connection closed without a response, so it
    # takes two drops in a row for the caller to see the error (and a POST may arrive twice).
    google.fail_next("drop", count=2)
    with pytest.raises(ConnectionError):
        cal.events().list(calendarId="primary").execute()
    assert [r.status for r in google.requests] == [0, 0]


def test_injected_faults_hit_batch_parts(google: GoogleEmulator, cal: Any) -> None:
    google.inject(1.0, ["403-user-rate"])
    results: list[Any] = []
    batch = BatchHttpRequest(
        callback=lambda _id, _resp, exc: results.append(exc),
        batch_uri=google.url + "batch/calendar/v3",
    )
    batch.add(cal.events().list(calendarId="primary"))
    batch.execute()
    assert results[0].resp.status == 403 and reason(results[0]) == "userRateLimitExceeded"
    google.inject(0)
    assert cal.events().list(calendarId="primary").execute()["items"] == []


# ---- OAuth ------------------------------------------------------------------------------------

CAL_SCOPE = "https://www.googleapis.com/auth/calendar.events"


def test_code_flow_with_pkce_refresh_and_revocation(monkeypatch: pytest.MonkeyPatch) -> None:
    from google_auth_oauthlib.flow import Flow

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the emulator speaks plain HTTP
    with GoogleEmulator(require_auth=True) as google:
        google.client("cid.apps.googleusercontent.com", "s3cret")
        config = {
            "installed": {
                "client_id": "cid.apps.googleusercontent.com",
                "client_secret": "s3cret",
                "auth_uri": google.auth_uri,
                "token_uri": google.token_uri,
            }
        }
        flow = Flow.from_client_config(
            config, scopes=[CAL_SCOPE], redirect_uri="http://localhost:9/"
        )
        url, state = flow.authorization_url(prompt="consent")
        assert "code_challenge=" in url
        http = httplib2.Http()
        http.follow_redirects = False
        resp, _ = http.request(url)
        assert resp.status == 302
        params = parse_qs(urlsplit(resp["location"]).query)
        assert params["state"] == [state]
        flow.fetch_token(code=params["code"][0])
        creds = flow.credentials
        assert creds.refresh_token and google.grants[0]["scopes"] == [CAL_SCOPE]
        cal = calendar_service(google, creds)
        assert cal.events().list(calendarId="primary").execute()["items"] == []
        first = creds.token
        creds.refresh(AuthRequest())
        assert creds.token != first and creds.valid
        google.expire_access_tokens()  # the client refreshes on 401 and retries
        assert cal.events().list(calendarId="primary").execute()["items"] == []
        google.revoke_all()
        with pytest.raises(RefreshError, match="invalid_grant"):
            creds.refresh(AuthRequest())


def test_wrong_pkce_verifier_is_rejected(google: GoogleEmulator) -> None:
    google.client("cid", "secret")
    query = {
        "client_id": "cid", "redirect_uri": "http://localhost:9/", "response_type": "code",
        "scope": CAL_SCOPE, "code_challenge": "x" * 43, "code_challenge_method": "S256",
    }  # fmt: skip
    http = httplib2.Http()
    http.follow_redirects = False
    resp, _ = http.request(google.auth_uri + "?" + urlencode(query))
    code = parse_qs(urlsplit(resp["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code", "code": code, "client_id": "cid",
        "client_secret": "secret", "redirect_uri": "http://localhost:9/", "code_verifier": "y" * 43,
    }  # fmt: skip
    resp, content = http.request(
        google.token_uri, "POST", body=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert resp.status == 400 and json.loads(content)["error"] == "invalid_grant"


def test_require_auth_answers_401_without_a_token() -> None:
    with GoogleEmulator(require_auth=True) as google:
        # No credentials at all: AnonymousCredentials would try (and fail) to refresh on 401.
        unauthenticated = build(
            "gmail", "v1", static_discovery=True, http=httplib2.Http(),
            client_options={"api_endpoint": google.url},
        )  # fmt: skip
        with pytest.raises(HttpError) as err:
            unauthenticated.users().getProfile(userId="me").execute()
    error = json.loads(err.value.content)["error"]
    assert err.value.resp.status == 401 and error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"
    assert error["errors"][0]["location"] == "Authorization"


def test_service_account_jwt_acts_for_its_subject() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with GoogleEmulator(require_auth=True) as google:
        sa_email = "worker@proj.iam.gserviceaccount.com"
        google.register_service_account(sa_email, public)
        info = {
            "client_email": sa_email,
            "private_key": pem.decode(),
            "token_uri": google.token_uri,
        }
        creds = service_account.Credentials.from_service_account_info(info, scopes=[CAL_SCOPE])  # type: ignore[no-untyped-call]
        delegated = creds.with_subject(EMAIL)
        profile = gmail_service(google, delegated).users().getProfile(userId="me").execute()
        assert profile["emailAddress"] == EMAIL
        assert google.grants[-1]["subject"] == EMAIL and google.grants[-1]["client_id"] == sa_email
        with pytest.raises(RefreshError, match="invalid_grant"):
            creds.with_subject("stranger@example.com").refresh(AuthRequest())
