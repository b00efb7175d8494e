"""The Graph emulator, driven only through `requests` and the real `msal` library."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.emulators.graph import GraphEmulator
from tests.emulators.graph.wire import GraphError

Json = dict[str, Any]
REP = "rep@contoso.com"
BOSS = "boss@contoso.com"
SCOPES = ["Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send", "MailboxSettings.Read", "User.Read"]
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
TAG = "String {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name fbw.key"
PACIFIC = "Pacific Standard Time"


def timed(start: str, end: str, tz: str = PACIFIC, **extra: Any) -> Json:
    return {
        "subject": "Block",
        "start": {"dateTime": start, "timeZone": tz},
        "end": {"dateTime": end, "timeZone": tz},
        **extra,
    }


def session(graph: GraphEmulator) -> requests.Session:
    s = requests.Session()
    # requests lets REQUESTS_CA_BUNDLE from the environment beat session.verify.
    s.trust_env = False
    s.verify = graph.ca_file
    return s


class Client:
    """Raw Graph calls, the way a provider built on requests makes them."""

    def __init__(self, graph: GraphEmulator, token: str | None = None) -> None:
        self.graph, self.http = graph, session(graph)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        url = path if path.startswith("https://") else self.graph.url + "v1.0/" + path
        return self.http.request(
            method, url, json=body, params=params, headers={**self.headers, **(headers or {})}
        )


def error(resp: requests.Response) -> tuple[int, str, str]:
    err = resp.json()["error"]
    assert set(err["innerError"]) >= {"date", "request-id", "client-request-id"}
    return resp.status_code, err["code"], err["message"]


@pytest.fixture
def graph() -> Iterator[GraphEmulator]:
    with GraphEmulator(require_auth=False) as emulator:
        emulator.user(REP)
        emulator.user(BOSS, timezone="Eastern Standard Time")
        yield emulator


@pytest.fixture
def api(graph: GraphEmulator) -> Client:
    return Client(graph)


# ---- identity -----------------------------------------------------------------------------------
def test_device_code_flow_refresh_and_revoke() -> None:
    with GraphEmulator() as graph:
        graph.app("public-client")
        graph.user(REP)
        graph.access_token_lifetime = 120  # under MSAL's 5-minute margin: silent => refresh
        app = msal.PublicClientApplication(
            "public-client", authority=graph.url + "organizations", http_client=graph.http_client()
        )
        flow = app.initiate_device_flow(scopes=SCOPES)
        assert flow["interval"] == 1 and flow["verification_uri"].startswith(graph.url)
        token_url = graph.url + "organizations/oauth2/v2.0/token"
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
        form |= {"client_id": "public-client", "device_code": flow["device_code"]}
        pending = session(graph).post(token_url, data=form).json()
        assert pending["error"] == "authorization_pending" and pending["error_codes"] == [70016]
        assert pending["error_description"].startswith("AADSTS70016:")

        graph.approve(flow["user_code"], REP)
        result = app.acquire_token_by_device_flow(flow)
        assert "access_token" in result, result
        assert result["id_token_claims"]["preferred_username"] == REP
        me = Client(graph, result["access_token"])("GET", "me").json()
        assert me["userPrincipalName"] == REP and me["mail"] == REP

        [account] = app.get_accounts(username=REP)
        graph.expire_access_tokens()
        status, code, message = error(Client(graph, result["access_token"])("GET", "me"))
        assert (status, code) == (401, "InvalidAuthenticationToken")
        assert message == "Access token has expired or is not yet valid."
        fresh = app.acquire_token_silent(SCOPES, account=account)
        assert fresh is not None and fresh["token_source"] == "identity_provider"
        assert (
            Client(graph, fresh["access_token"])(
                "GET",
                "me/calendarView",
                params={
                    "startDateTime": "2026-11-30T00:00:00Z",
                    "endDateTime": "2026-12-01T00:00:00Z",
                },
            ).status_code
            == 200
        )
        assert [g["upn"] for g in graph.grants] == [REP]

        graph.revoke(REP)
        failed = app.acquire_token_silent_with_error(SCOPES, account=account)
        assert failed is not None and failed["error"] == "invalid_grant"
        assert 50173 in failed["error_codes"]


def test_msal_without_instance_discovery_and_wrong_scope() -> None:
    with GraphEmulator() as graph:
        graph.app("public-client")
        graph.user(REP)
        app = msal.PublicClientApplication(
            "public-client",
            authority=graph.url + graph.tenant_id,
            http_client=session(graph),
            instance_discovery=False,
        )
        flow = app.initiate_device_flow(scopes=["Calendars.Read"])
        graph.approve(flow["user_code"], REP)
        result = app.acquire_token_by_device_flow(flow)
        call = Client(graph, result["access_token"])
        assert call("GET", "me/events").status_code == 200
        # Calendars.Read does not allow writes.
        assert error(call("POST", "me/events", timed("2026-11-30T09:00", "2026-11-30T10:00")))[
            :2
        ] == (403, "ErrorAccessDenied")
        assert not [r for r in graph.requests if "discovery/instance" in r.path]


def _certificate() -> tuple[bytes, bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daemon")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    thumbprint = cert.fingerprint(hashes.SHA1()).hex()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), thumbprint


def test_client_credentials_with_secret_and_certificate() -> None:
    with GraphEmulator() as graph:
        graph.user(REP)
        graph.user(BOSS)
        graph.app("daemon", secret="s3cret")
        authority = graph.url + graph.tenant_id

        def confidential(client_id: str, credential: Any) -> Any:
            return msal.ConfidentialClientApplication(
                client_id,
                client_credential=credential,
                authority=authority,
                http_client=graph.http_client(),
            )

        result = confidential("daemon", "s3cret").acquire_token_for_client(GRAPH_DEFAULT)
        call = Client(graph, result["access_token"])
        assert call("GET", f"users/{REP}/events").status_code == 200
        assert error(call("GET", "me")) == (
            400,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        )
        graph.restrict_app("daemon", [REP])
        assert call("GET", f"users/{REP}/mailFolders/inbox").status_code == 200
        assert error(call("GET", f"users/{BOSS}/mailFolders/inbox")) == (
            403,
            "ErrorAccessDenied",
            "Access to OData is disabled.",
        )
        wrong = confidential("daemon", "nope").acquire_token_for_client(GRAPH_DEFAULT)
        assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]
        bad_scope = confidential("daemon", "s3cret").acquire_token_for_client(["Mail.Read"])
        assert bad_scope["error"] == "invalid_scope"

        key_pem, cert_pem, thumbprint = _certificate()
        graph.app("cert-daemon", certificate_pem=cert_pem)
        for credential in (
            {"private_key": key_pem.decode(), "public_certificate": cert_pem.decode()},  # PS256
            {"private_key": key_pem.decode(), "thumbprint": thumbprint},  # RS256
        ):
            token = confidential("cert-daemon", credential).acquire_token_for_client(GRAPH_DEFAULT)
            assert "access_token" in token, token
        other_key, _, _ = _certificate()
        forged = {"private_key": other_key.decode(), "thumbprint": thumbprint}
        rejected = confidential("cert-daemon", forged).acquire_token_for_client(GRAPH_DEFAULT)
        assert rejected["error"] == "invalid_client"
        assert [g["upn"] for g in graph.grants] == [None, None, None]


# ---- calendar -----------------------------------------------------------------------------------
def test_transaction_id_creates_one_event(graph: GraphEmulator, api: Client) -> None:
    body = timed("2026-11-30T09:00:00", "2026-11-30T10:00:00", transactionId="tx-1")
    first, second = api("POST", "me/events", body), api("POST", "me/calendar/events", body)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and len(graph.events()) == 1
    created = first.json()
    assert created["transactionId"] == "tx-1" and created["type"] == "singleInstance"
    assert created["@odata.etag"] == f'W/"{created["changeKey"]}"'
    assert created["organizer"]["emailAddress"]["address"] == REP
    assert created["showAs"] == "busy" and created["reminderMinutesBeforeStart"] == 15
    assert created["start"] == {"dateTime": "2026-11-30T17:00:00.0000000", "timeZone": "UTC"}
    plain = api("POST", "me/events", timed("2026-11-30T11:00", "2026-11-30T12:00")).json()
    assert "transactionId" not in plain
    assert api("PATCH", f"me/events/{created['id']}", {"transactionId": "x"}).status_code == 400
    assert api("DELETE", f"me/events/{created['id']}").status_code == 204
    assert api("POST", "me/events", body).json()["id"] != created["id"]  # free again


def test_extended_property_filter_and_expand(graph: GraphEmulator, api: Client) -> None:
    body = timed("2026-11-30T09:00", "2026-11-30T10:00")
    body["singleValueExtendedProperties"] = [{"id": TAG, "value": "block-1"}]
    created = api("POST", "me/events", body).json()
    assert "singleValueExtendedProperties" not in created
    stored = graph.event(created["id"])
    assert stored is not None
    assert stored["singleValueExtendedProperties"] == [{"id": TAG, "value": "block-1"}]
    api("POST", "me/events", timed("2026-11-30T11:00", "2026-11-30T12:00"))
    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq "
        "'BLOCK-1')",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{TAG}')",
        "$select": "subject,start",
    }
    [found] = api("GET", "me/events", params=params).json()["value"]
    assert found["id"] == created["id"] and "end" not in found
    assert found["singleValueExtendedProperties"] == [{"id": TAG, "value": "block-1"}]
    got = api("GET", f"me/events/{created['id']}", params={"$expand": params["$expand"]})
    assert got.json()["singleValueExtendedProperties"][0]["value"] == "block-1"
    bad = api("GET", "me/events", params={"$filter": "subject ge 'x' or showAs eq 'busy'"})
    assert error(bad)[:2] == (400, "ErrorInvalidUrlQueryFilter")
    bad_id = dict(body, singleValueExtendedProperties=[{"id": "String fbw", "value": "x"}])
    assert api("POST", "me/events", bad_id).status_code == 400


def test_if_match_and_missing_events(api: Client) -> None:
    created = api("POST", "me/events", timed("2026-11-30T09:00", "2026-11-30T10:00")).json()
    stale = created["@odata.etag"]
    moved = api(
        "PATCH", f"me/events/{created['id']}", {"subject": "Moved"}, headers={"If-Match": stale}
    )
    assert moved.status_code == 200 and moved.json()["subject"] == "Moved"
    again = api(
        "PATCH", f"me/events/{created['id']}", {"subject": "x"}, headers={"If-Match": stale}
    )
    assert error(again) == (
        412,
        "ErrorIrresolvableConflict",
        "The change key passed in the request does not match the current change key for the item.",
    )
    assert error(api("DELETE", "me/events/AAMkNope")) == (
        404,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )


def test_calendar_view_expands_series_across_dst(graph: GraphEmulator, api: Client) -> None:
    series = timed("2026-10-26T09:00:00", "2026-10-26T09:30:00", subject="Standup")
    series["recurrence"] = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "endDate", "startDate": "2026-10-26", "endDate": "2026-11-16"},
    }
    master = api("POST", "me/events", series).json()
    assert master["type"] == "seriesMaster"
    graph.put_event(timed("2026-11-03T00:00:00", "2026-11-04T00:00:00", isAllDay=True))
    window = {"startDateTime": "2026-10-25T00:00:00-07:00", "endDateTime": "2026-11-15T00:00:00"}
    utc = api("GET", "me/calendarView", params=window).json()["value"]
    starts = [e["start"]["dateTime"] for e in utc if e["type"] == "occurrence"]
    # 09:00 Pacific is 16:00Z in PDT and 17:00Z once DST ends on 1 November.
    assert starts == [
        "2026-10-26T16:00:00.0000000",
        "2026-11-02T17:00:00.0000000",
        "2026-11-09T17:00:00.0000000",
    ]
    occurrence = utc[0]
    assert occurrence["seriesMasterId"] == master["id"] and occurrence["id"] != master["id"]
    graph.cancel_occurrence(master["id"], datetime(2026, 11, 2, 17, tzinfo=UTC))
    graph.patch_event(utc[-1]["id"], {"subject": "Standup (moved)"})
    prefer = {"Prefer": f'outlook.timezone="{PACIFIC}"'}
    local = api("GET", "me/calendar/calendarView", params=window, headers=prefer)
    assert local.headers["Preference-Applied"] == f'outlook.timezone="{PACIFIC}"'
    seen = [
        (e["type"], e["start"]["dateTime"], e["start"]["timeZone"]) for e in local.json()["value"]
    ]
    assert seen == [
        ("occurrence", "2026-10-26T09:00:00.0000000", PACIFIC),
        ("singleInstance", "2026-11-03T00:00:00.0000000", PACIFIC),
        ("exception", "2026-11-09T09:00:00.0000000", PACIFIC),
    ]
    tokyo = api(
        "GET", "me/calendarView", params=window, headers={"Prefer": 'outlook.timezone="Asia/Tokyo"'}
    ).json()["value"]
    assert tokyo[0]["start"]["dateTime"] == "2026-10-27T01:00:00.0000000"
    occurrence_id = local.json()["value"][0]["id"]
    assert api("GET", f"me/events/{occurrence_id}").json()["type"] == "occurrence"
    assert api("DELETE", f"me/events/{occurrence_id}").status_code == 204
    after = api("GET", "me/calendarView", params=window).json()["value"]
    assert [e["type"] for e in after] == ["singleInstance", "exception"]
    missing = api("GET", "me/calendarView", params={"startDateTime": "2026-10-25T00:00:00Z"})
    assert error(missing)[:2] == (400, "ErrorInvalidParameter")


def test_paging_follows_next_link(api: Client) -> None:
    for hour in range(9, 14):
        api(
            "POST",
            "me/events",
            timed(f"2026-11-30T{hour:02d}:00:00", f"2026-11-30T{hour:02d}:30:00"),
        )
    window = {
        "startDateTime": "2026-11-30T00:00:00-08:00",
        "endDateTime": "2026-12-01T00:00:00-08:00",
    }
    page = api("GET", "me/calendarView", params=window, headers={"Prefer": "odata.maxpagesize=2"})
    seen = []
    while True:
        body = page.json()
        seen += [e["start"]["dateTime"] for e in body["value"]]
        if "@odata.nextLink" not in body:
            break
        assert (
            body["@odata.nextLink"].startswith(api.graph.url)
            and "$skiptoken=" in body["@odata.nextLink"]
        )
        page = api("GET", body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"})
    assert len(seen) == 5 and seen == sorted(seen)
    top = api("GET", "me/events", params={"$top": "3"}).json()
    assert len(top["value"]) == 3 and "@odata.nextLink" in top


def test_delta_reports_changes_and_expires(graph: GraphEmulator, api: Client) -> None:
    ids = [
        api("POST", "me/events", timed(f"2026-11-30T{h:02d}:00", f"2026-11-30T{h:02d}:30")).json()[
            "id"
        ]
        for h in (9, 10, 11)
    ]
    window = {"startDateTime": "2026-11-30T00:00:00Z", "endDateTime": "2026-12-02T00:00:00Z"}
    few = {"Prefer": "odata.maxpagesize=2"}
    first = api("GET", "me/calendarView/delta", params=window, headers=few).json()
    assert len(first["value"]) == 2 and "$skiptoken=" in first["@odata.nextLink"]
    last = api("GET", first["@odata.nextLink"], headers=few).json()
    assert len(last["value"]) == 1 and "$deltatoken=" in last["@odata.deltaLink"]
    quiet = api("GET", last["@odata.deltaLink"]).json()
    assert quiet["value"] == []
    api("PATCH", f"me/events/{ids[0]}", {"subject": "Changed"})
    api("DELETE", f"me/events/{ids[1]}")
    changes = api("GET", quiet["@odata.deltaLink"]).json()
    by_id = {item["id"]: item for item in changes["value"]}
    assert by_id[ids[0]]["subject"] == "Changed"
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"} and len(by_id) == 2
    graph.expire_delta("410")
    gone = api("GET", changes["@odata.deltaLink"])
    assert gone.status_code == 410 and gone.headers["Location"].endswith("$deltatoken=")
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    fresh = api("GET", "me/calendarView/delta", params=window).json()
    graph.expire_delta("syncStateNotFound")
    assert error(api("GET", fresh["@odata.deltaLink"]))[:2] == (400, "syncStateNotFound")
    selected = api("GET", "me/calendarView/delta", params={**window, "$select": "subject"})
    assert selected.status_code == 400


def test_validation_against_the_schema(api: Client) -> None:
    unknown = api("POST", "me/events", timed("2026-11-30T09:00", "2026-11-30T10:00", focus=True))
    assert error(unknown) == (
        400,
        "RequestBodyRead",
        "The property 'focus' does not exist on type 'microsoft.graph.event'. Make sure to only "
        "use property names that are defined by the type or mark the type as open type.",
    )
    bad_enum = api("POST", "me/events", timed("2026-11-30T09:00", "2026-11-30T10:00", showAs="dnd"))
    assert error(bad_enum)[:2] == (400, "RequestBodyRead")
    bad_type = api("PATCH", "me/mailboxSettings", {"workingHours": {"daysOfWeek": ["funday"]}})
    assert bad_type.status_code == 400
    assert error(api("GET", "me/events", params={"$count": "true"}))[:2] == (400, "BadRequest")
    assert error(api("GET", "me/calendars/x/events"))[1:] == (
        "BadRequest",
        "Resource not found for the segment 'calendars'.",
    )


def test_mailbox_settings(graph: GraphEmulator, api: Client) -> None:
    assert api("GET", "me/mailboxSettings/timeZone").json()["value"] == PACIFIC
    hours = api("GET", f"users/{BOSS}/mailboxSettings/workingHours").json()
    assert hours["startTime"] == "08:00:00.0000000"
    assert hours["timeZone"] == {"name": "Eastern Standard Time"}
    graph.mailbox(REP).timezone = "Customized Time Zone"
    assert api("GET", "me/mailboxSettings").json()["timeZone"] == "Customized Time Zone"


def test_a_custom_time_zone_in_the_working_hours(graph: GraphEmulator, api: Client) -> None:
    """A customTimeZone (derived from timeZoneBase in the schema) is served as given and
    checked like any other body: a property it lacks is refused."""
    custom = {
        "@odata.type": "#microsoft.graph.customTimeZone",
        "name": "Customized Time Zone",
        "bias": -200,
        "standardOffset": {"time": "02:00:00.0000000", "dayOccurrence": 4,
                           "dayOfWeek": "sunday", "month": 5, "year": 0},
        "daylightOffset": {"daylightBias": -100, "time": "02:00:00.0000000",
                           "dayOccurrence": 2, "dayOfWeek": "sunday", "month": 10, "year": 0},
    }  # fmt: skip
    graph.user("custom@contoso.com", timezone="customTimeZone", working_hours={"timeZone": custom})
    settings = api("GET", "users/custom@contoso.com/mailboxSettings").json()
    assert settings["timeZone"] == "customTimeZone"
    assert settings["workingHours"]["timeZone"] == custom
    assert api("PATCH", "me/mailboxSettings", {"workingHours": {"timeZone": custom}}).ok
    assert api("GET", "me/mailboxSettings/workingHours").json()["timeZone"]["bias"] == -200
    wrong = {**custom, "standardOffset": {**custom["standardOffset"], "daylightBias": 5}}
    refused = api("PATCH", "me/mailboxSettings", {"workingHours": {"timeZone": wrong}})
    assert error(refused)[:2] == (400, "RequestBodyRead")
    with pytest.raises(GraphError):
        graph.user("x@contoso.com", working_hours={"timeZone": {**custom, "bias": "-200"}})


# ---- mail ---------------------------------------------------------------------------------------
def test_folders_and_duplicates(api: Client) -> None:
    held = api("POST", "me/mailFolders", {"displayName": "Held"})
    assert held.status_code == 201
    assert error(
        api("POST", "me/mailFolders/msgfolderroot/childFolders", {"displayName": "held"})
    ) == (
        409,
        "ErrorFolderExists",
        "A folder with the specified name already exists.",
    )
    child = api("POST", f"me/mailFolders/{held.json()['id']}/childFolders", {"displayName": "Sub"})
    assert child.json()["parentFolderId"] == held.json()["id"]
    [found] = api("GET", "me/mailFolders", params={"$filter": "displayName eq 'Held'"}).json()[
        "value"
    ]
    assert found["id"] == held.json()["id"] and found["childFolderCount"] == 1
    inbox = api("GET", "me/mailFolders/inbox").json()
    assert inbox["displayName"] == "Inbox"


def test_move_with_and_without_immutable_ids(graph: GraphEmulator, api: Client) -> None:
    immutable = graph.arrive(
        sender="client@acme.com", received=datetime(2026, 11, 30, 8, tzinfo=UTC)
    )
    held = api("POST", "me/mailFolders", {"displayName": "Held"}).json()["id"]
    [listed] = api("GET", "me/mailFolders/inbox/messages").json()["value"]
    regular = listed["id"]
    assert regular != immutable and listed["parentFolderId"] == graph.mailbox().well_known["inbox"]
    moved = api("POST", f"me/messages/{regular}/move", {"destinationId": held})
    assert moved.status_code == 201 and moved.json()["id"] != regular
    assert api("GET", f"me/messages/{regular}").status_code == 404
    keep = {"Prefer": 'IdType="ImmutableId"'}
    back = api("POST", f"me/messages/{immutable}/move", {"destinationId": "inbox"}, headers=keep)
    assert back.json()["id"] == immutable
    assert api("GET", f"me/messages/{immutable}", headers=keep).json()["id"] == immutable
    assert graph.message(immutable)["folder"] == "inbox"
    read = api("PATCH", f"me/messages/{immutable}", {"isRead": True, "categories": ["Held"]})
    assert read.json()["isRead"] is True and graph.message(immutable)["categories"] == ["Held"]


def test_inbox_rule_with_exception_holds_mail(graph: GraphEmulator, api: Client) -> None:
    held = api("POST", "me/mailFolders", {"displayName": "Held"}).json()["id"]
    rule = {
        "displayName": "Hold until admin",
        "sequence": 1,
        "isEnabled": True,
        # Exceptions OR: either one lets a message stay in the Inbox.
        "exceptions": {
            "fromAddresses": [{"emailAddress": {"address": "BOSS@contoso.com"}}],
            "senderContains": ["fabrikam.com"],
        },
        "actions": {"moveToFolder": held, "stopProcessingRules": True},
    }
    created = api("POST", "me/mailFolders/inbox/messageRules", rule)
    assert created.status_code == 201 and graph.rules()[0]["actions"]["moveToFolder"] == held
    when = datetime(2026, 11, 30, 8, tzinfo=UTC)
    client = graph.arrive(sender="client@acme.com", received=when)
    boss = graph.arrive(sender=BOSS, received=when + timedelta(minutes=1))
    friend = graph.arrive(sender="jane@sales.fabrikam.com", received=when)
    assert graph.message(client)["folder"] == "Held"
    assert graph.message(boss)["folder"] == "inbox"
    assert graph.message(friend)["folder"] == "inbox"
    listed = api("GET", "me/mailFolders/inbox/messageRules").json()["value"]
    assert [r["displayName"] for r in listed] == ["Hold until admin"]


def test_rule_with_unsupported_predicate_is_an_emulator_error(
    graph: GraphEmulator, api: Client
) -> None:
    rule = {
        "displayName": "Attachments",
        "sequence": 1,
        "conditions": {"hasAttachments": True},
        "actions": {"markAsRead": True},
    }
    assert api("POST", "me/mailFolders/inbox/messageRules", rule).status_code == 201
    with pytest.raises(NotImplementedError, match="hasAttachments"):
        graph.arrive(sender="client@acme.com", received=datetime(2026, 11, 30, tzinfo=UTC))
    mail = {"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": REP}}]}}
    assert error(api("POST", "me/sendMail", mail))[:2] == (500, "emulatorBug")
    assert len(graph.rule_errors) == 2


def test_send_mail_to_self_goes_through_rules(graph: GraphEmulator, api: Client) -> None:
    held = api("POST", "me/mailFolders", {"displayName": "Held"}).json()["id"]
    api(
        "POST",
        "me/mailFolders/inbox/messageRules",
        {
            "displayName": "From me",
            "sequence": 2,
            "conditions": {"senderContains": ["REP@"]},
            "actions": {"moveToFolder": held},
        },
    )
    mail = {
        "message": {
            "subject": "Open gaps",
            "body": {"contentType": "text", "content": "Acme has no next meeting."},
            "toRecipients": [{"emailAddress": {"address": REP}}],
            "singleValueExtendedProperties": [{"id": TAG, "value": "digest-1"}],
        },
        "saveToSentItems": True,
    }
    sent = api("POST", "me/sendMail", mail)
    assert sent.status_code == 202 and sent.content == b""
    folders = sorted((m["folder"], m["subject"]) for m in graph.messages())
    assert folders == [("Held", "Open gaps"), ("sentitems", "Open gaps")]
    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{TAG}' and ep/value eq "
        "'digest-1')"
    }
    assert len(api("GET", "me/mailFolders/sentitems/messages", params=params).json()["value"]) == 1


def test_messages_delta_reports_moved_out_items(graph: GraphEmulator, api: Client) -> None:
    when = datetime(2026, 11, 30, 8, tzinfo=UTC)
    first = graph.arrive(sender="a@acme.com", received=when)
    graph.arrive(sender="b@acme.com", received=when + timedelta(minutes=5))
    keep = {"Prefer": 'IdType="ImmutableId"'}
    start = api(
        "GET",
        "me/mailFolders/inbox/messages/delta",
        headers=keep,
        params={"$select": "subject,receivedDateTime"},
    ).json()
    assert len(start["value"]) == 2 and "$deltatoken=" in start["@odata.deltaLink"]
    api("POST", f"me/messages/{first}/move", {"destinationId": "archive"}, headers=keep)
    graph.arrive(sender="c@acme.com", received=when + timedelta(minutes=9))
    changes = api("GET", start["@odata.deltaLink"], headers=keep).json()["value"]
    assert [c for c in changes if "@removed" in c] == [
        {"@odata.type": "#microsoft.graph.message", "id": first, "@removed": {"reason": "deleted"}}
    ]
    [new] = [c for c in changes if "@removed" not in c]
    assert set(new) == {"@odata.etag", "id", "subject", "receivedDateTime"}
    newest = api(
        "GET",
        "me/mailFolders/inbox/messages",
        params={
            "$filter": "receivedDateTime ge 2026-11-30T08:04:00Z",
            "$orderby": "receivedDateTime desc",
        },
    ).json()["value"]
    assert [m["from"]["emailAddress"]["address"] for m in newest] == ["c@acme.com", "b@acme.com"]


# ---- batch, faults, throttling ------------------------------------------------------------------
def test_batch_with_failed_dependency(graph: GraphEmulator, api: Client) -> None:
    batch = {
        "requests": [
            {
                "id": "1",
                "method": "POST",
                "url": "/me/events",
                "headers": {"Content-Type": "application/json"},
                "body": timed("2026-11-30T09:00", "2026-11-30T10:00"),
            },
            {"id": "2", "method": "GET", "url": "me/events/AAMkNope"},
            {"id": "3", "method": "GET", "url": "/me/events", "dependsOn": ["2"]},
            {"id": "4", "method": "POST", "url": "/me/events", "body": {}},
        ]
    }
    resp = api("POST", "$batch", batch)
    assert resp.status_code == 200
    status = {r["id"]: r["status"] for r in resp.json()["responses"]}
    assert status == {"1": 201, "2": 404, "3": 424, "4": 400}
    parts = [(r.method, r.path, r.status) for r in graph.requests if r.batch_part]
    assert parts == [("POST", "/v1.0/me/events", 201), ("GET", "/v1.0/me/events/AAMkNope", 404)]
    many = {"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]}
    assert error(api("POST", "$batch", many)) == (
        400,
        "BadRequest",
        "Number of batch requests exceeds the limit of 20.",
    )


def test_fail_next_429_carries_retry_after(graph: GraphEmulator, api: Client) -> None:
    graph.fail_next("429", retry_after=0.5, path_contains="/events")
    throttled = api("GET", "me/events")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "0.5"
    assert api("GET", "me/events").status_code == 200  # too early: counted
    assert graph.early_retries == 1
    graph.fail_next("drop")
    with pytest.raises(requests.ConnectionError):
        api("GET", "me")


def test_mailbox_concurrency_limit(graph: GraphEmulator, api: Client) -> None:
    graph.inject(1.0, ["slow"], slow_seconds=0.8)
    barrier = threading.Barrier(5)
    statuses: list[tuple[int, str]] = []

    def call() -> None:
        barrier.wait()
        resp = Client(graph)("GET", "me/events")
        code = resp.json()["error"]["code"] if resp.status_code != 200 else ""
        statuses.append((resp.status_code, code))

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    graph.inject(0.0)
    assert (429, "ApplicationThrottled") in statuses
    assert {s for s, _ in statuses} == {200, 429} and len(statuses) == 5
