"""The Google emulator against the real references, and the behaviours of Google calbot relies on.

1. Every response body the fake emits validates against the discovery document's schemas, strictly
   (a property the discovery document doesn't define is an error).
2. Google's own Python client (google-api-python-client, built from the same discovery document)
   reads the fake: paging, sync tokens, 410, watch and stop.
3. The fake behaves like Google where calbot depends on it: paging, incremental sync, recurring
   series, push notifications and their headers, PKCE, refresh and revocation, scopes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jsonschema
import pytest
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.base import FakeService
from tests.fakes.google import METHOD_SCOPES, google_error
from tests.reference import load_reference_json

UTC = timezone.utc
ANA = "ana@acme.com"
BOB = "bob@acme.com"
REDIRECT = "http://127.0.0.1:3000/oauth/google/callback"
READONLY = "https://www.googleapis.com/auth/calendar.readonly"


# -- discovery schemas → JSON Schema -----------------------------------------------------------

def discovery() -> dict:
    return load_reference_json("google-calendar-v3-discovery.json")


def to_json_schema(node: dict) -> dict:
    """One discovery-format schema as JSON Schema; objects are closed to undeclared properties."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    out: dict = {}
    if kind == "object":
        out["type"] = "object"
        if "properties" in node:
            out["properties"] = {name: to_json_schema(sub) for name, sub in node["properties"].items()}
        if "additionalProperties" in node:
            out["additionalProperties"] = to_json_schema(node["additionalProperties"])
        elif "properties" in node:
            out["additionalProperties"] = False
    elif kind == "array":
        out = {"type": "array", "items": to_json_schema(node["items"])}
    elif kind == "string":
        out["type"] = "string"
        fmt = node.get("format")
        if fmt in ("date-time", "date"):
            out["format"] = fmt
        elif fmt in ("int64", "uint64"):
            out["pattern"] = r"^-?\d+$"
    elif kind in ("integer", "number", "boolean"):
        out["type"] = kind
    elif kind not in (None, "any"):
        raise AssertionError(f"unhandled discovery type {kind!r}")
    if "enum" in node:
        out["enum"] = node["enum"]
    return out


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value) -> bool:
    if not isinstance(value, str):
        return True
    if not value.endswith("Z") and value[-6] not in "+-":
        raise ValueError("RFC 3339 needs an offset or Z")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
        if len(value) != 10:
            raise ValueError(value)
    return True


def validate(name: str, body: dict) -> None:
    schemas = discovery()["schemas"]
    document = {"$ref": f"#/$defs/{name}", "$defs": {key: to_json_schema(s) for key, s in schemas.items()}}
    validator = jsonschema.Draft202012Validator(document, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_the_converter_rejects_undeclared_properties_and_bad_formats():
    with pytest.raises(AssertionError, match="Additional properties"):
        validate("Event", {"id": "x", "joinUrl": "https://example.com"})
    with pytest.raises(AssertionError, match="date-time"):
        validate("Event", {"id": "x", "updated": "yesterday"})
    with pytest.raises(AssertionError, match="not of type 'string'"):
        validate("Channel", {"id": "x", "expiration": 1234})  # int64 travels as a string
    with pytest.raises(AssertionError, match="does not match"):
        validate("Channel", {"id": "x", "expiration": "soon"})


# -- helpers -----------------------------------------------------------------------------------

class Receiver(FakeService):
    """Where push notifications land; answers `status` (200 unless told otherwise)."""

    name = "receiver"
    status = 200

    def routes(self):
        async def hook(request):
            return Response(status_code=self.status)

        return [Route("/hook", hook, methods=["POST"])]

    def hooks(self):
        return self.calls("^/hook$")


@pytest.fixture
def google(google_fake):
    google_fake.add_account(ANA, time_zone="Europe/Berlin")
    return google_fake


@pytest.fixture
def receiver():
    with Receiver() as fake:
        yield fake


def api(google, account=ANA, scopes=("openid", "email", READONLY)) -> httpx.Client:
    token = google.grant(account, scopes=scopes)["access_token"]
    return httpx.Client(base_url=f"{google.url}/calendar/v3", headers={"Authorization": f"Bearer {token}"})


def events_path(calendar_id=ANA) -> str:
    return f"/calendars/{calendar_id.replace('@', '%40')}/events"


def list_all(client, calendar_id=ANA, **params) -> tuple[list[dict], str, int]:
    params = {"singleEvents": "true", **{k: str(v) for k, v in params.items()}}
    items, pages = [], 0
    while True:
        response = client.get(events_path(calendar_id), params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        validate("Events", body)
        items += body["items"]
        pages += 1
        if "nextPageToken" not in body:
            assert body["nextSyncToken"]
            return items, body["nextSyncToken"], pages
        assert "nextSyncToken" not in body
        params = {**params, "pageToken": body["nextPageToken"]}


def soon(hours=2) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


# -- 1. schemas --------------------------------------------------------------------------------

def test_method_scopes_match_the_discovery_document():
    methods = discovery()["resources"]
    for name, scopes in METHOD_SCOPES.items():
        resource, method = name.split(".")
        assert scopes == set(methods[resource]["methods"][method]["scopes"]), name


def test_every_kind_of_event_validates_against_the_discovery_schema(google):
    google.add_account(BOB)
    room = "c_1882abc@resource.calendar.google.com"
    google.add_event(ANA, "Meet call", soon(), conference="meet", description="<b>Agenda</b>",
                     location="Room 4", attendees=[BOB, "eve@client.com", {"email": room, "displayName": "Room 4"}])
    google.add_event(ANA, "Zoom call", soon(3), conference="zoom")
    google.add_event(ANA, "Teams call", soon(4), conference="teams", organizer="carl@partner.com",
                     response="tentative")
    google.add_event(ANA, "Offsite", date.today() + timedelta(days=2))
    google.add_event(ANA, None, soon(5), visibility="private", transparency="transparent")
    series = google.add_recurring(ANA, "Weekly", soon(6), count=4, conference="meet")
    first, second, *_ = google.instances(ANA, series["id"])
    google.move_instance(ANA, first["id"], soon(30))
    google.cancel_instance(ANA, second["id"])
    gone = google.add_event(ANA, "Gone", soon(7))
    google.delete_event(ANA, gone["id"])

    with api(google) as client:
        items, _, _ = list_all(client, showDeleted="true")
        assert len(items) == 10
        for item in items:
            validate("Event", item)
        single = client.get(f"{events_path()}/{first['id']}")
        validate("Event", single.json())
        masters = client.get(events_path(), params={"singleEvents": "false"}).json()
        validate("Events", masters)
        assert any("recurrence" in e for e in masters["items"])


def test_calendar_list_calendar_and_channel_validate(google, receiver):
    shared = google.add_calendar(ANA, summary="Team", time_zone="America/New_York")
    google.add_account(BOB, calendars=[shared])
    with api(google, BOB) as client:
        listing = client.get("/users/me/calendarList").json()
        validate("CalendarList", listing)
        assert [e["id"] for e in listing["items"]] == [BOB, shared]
        assert listing["items"][0]["primary"] is True and listing["items"][1]["dataOwner"] == ANA
        validate("CalendarListEntry", client.get("/users/me/calendarList/primary").json())
        validate("Calendar", client.get(f"/calendars/{shared}").json())
        watch = client.post(f"/calendars/{shared}/events/watch", json={
            "id": "chan-1", "type": "web_hook", "address": f"{receiver.url}/hook", "token": "t0k",
            "params": {"ttl": "3600"},
        })
        assert watch.status_code == 200
        validate("Channel", watch.json())


def test_error_bodies_have_googles_shape(google):
    with api(google) as client:
        missing = client.get(f"{events_path()}/nope").json()
    assert missing == google_error(404, "notFound", "Not Found")
    assert set(missing["error"]) >= {"errors", "code", "message"}
    for item in missing["error"]["errors"]:
        validate("Error", {k: item[k] for k in ("domain", "reason")})


# -- 2. Google's own client --------------------------------------------------------------------

def google_client(google, token):
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build_from_document

    return build_from_document(
        discovery(), credentials=Credentials(token=token),
        client_options={"api_endpoint": f"{google.url}/calendar/v3/"},
    )


def test_google_api_python_client_pages_syncs_and_sees_410(google):
    from googleapiclient.errors import HttpError

    google.bulk_add(ANA, 120, start=soon(), spacing=timedelta(hours=1))
    service = google_client(google, google.grant(ANA)["access_token"])

    request = service.events().list(calendarId=ANA, singleEvents=True, maxResults=50,
                                    timeMin=datetime.now(UTC).isoformat())
    seen, pages = [], 0
    while request is not None:
        response = request.execute()
        seen += response["items"]
        pages += 1
        sync_token = response.get("nextSyncToken")
        request = service.events().list_next(request, response)
    assert len(seen) == 120 and pages == 3 and sync_token

    moved = seen[5]["id"]
    google.move_event(ANA, moved, soon(200))
    google.cancel_event(ANA, seen[6]["id"])
    changes = service.events().list(calendarId=ANA, singleEvents=True, syncToken=sync_token).execute()
    assert [e["id"] for e in changes["items"]] == [moved, seen[6]["id"]]
    assert changes["items"][1]["status"] == "cancelled"

    google.invalidate_sync_tokens(ANA)
    with pytest.raises(HttpError) as raised:
        service.events().list(calendarId=ANA, singleEvents=True, syncToken=changes["nextSyncToken"]).execute()
    assert raised.value.resp.status == 410
    assert raised.value.error_details[0]["reason"] == "fullSyncRequired"


def test_google_api_python_client_watches_and_stops(google, receiver):
    service = google_client(google, google.grant(ANA)["access_token"])
    channel = service.events().watch(calendarId="primary", body={
        "id": "chan-lib", "type": "web_hook", "address": f"{receiver.url}/hook",
    }).execute()
    assert channel["id"] == "chan-lib" and channel["resourceId"] and int(channel["expiration"]) > time.time() * 1000
    service.channels().stop(body={"id": "chan-lib", "resourceId": channel["resourceId"]}).execute()
    from googleapiclient.errors import HttpError

    with pytest.raises(HttpError) as raised:
        service.channels().stop(body={"id": "chan-lib", "resourceId": channel["resourceId"]}).execute()
    assert raised.value.resp.status == 404


# -- 3. behaviour: listing and sync ------------------------------------------------------------

def test_paging_returns_every_event_once_and_ends_with_a_sync_token(google):
    ids = google.bulk_add(ANA, 600, start=soon(), spacing=timedelta(minutes=30))
    with api(google) as client:
        items, _, pages = list_all(client, maxResults=250)
        assert pages == 3 and sorted(e["id"] for e in items) == sorted(ids)
        big = client.get(events_path(), params={"singleEvents": "true", "maxResults": "9999"}).json()
        assert len(big["items"]) == 600  # capped at 2500, so one page
        default = client.get(events_path(), params={"singleEvents": "true"}).json()
        assert len(default["items"]) == 250 and default["nextPageToken"]


def test_pages_are_read_live_and_the_sync_token_covers_what_paging_missed(google):
    ids = google.bulk_add(ANA, 30, start=soon())
    with api(google) as client:
        params = {"singleEvents": "true", "maxResults": "10"}
        first = client.get(events_path(), params=params).json()
        google.update_event(ANA, ids[0], summary="Changed behind the cursor")
        google.cancel_event(ANA, ids[20])
        added = google.add_event(ANA, "Added while paging", soon(100))
        rest, token, _ = list_all(client, maxResults=10, pageToken=first["nextPageToken"])
        listed = [e["id"] for e in first["items"] + rest]
        assert listed == ids[:20] + ids[21:] + [added["id"]]  # live: the cancelled one is gone, the new one came

        changes, _, _ = list_all(client, syncToken=token)
        assert [e["id"] for e in changes] == [ids[0], ids[20], added["id"]]  # at least once


def test_incremental_listings_page_too(google):
    ids = google.bulk_add(ANA, 25, start=soon())
    with api(google) as client:
        _, token, _ = list_all(client)
        for event_id in ids[:23]:
            google.update_event(ANA, event_id, summary="Renamed")
        changes, _, pages = list_all(client, syncToken=token, maxResults=10)
    assert pages == 3 and [e["id"] for e in changes] == ids[:23]


def test_time_window_and_order(google):
    base = soon()
    late = google.add_event(ANA, "Late", base + timedelta(days=40))
    early = google.add_event(ANA, "Early", base + timedelta(hours=3))
    google.add_event(ANA, "Past", base - timedelta(days=3))
    running = google.add_event(ANA, "Running", base - timedelta(minutes=30), duration=timedelta(hours=1))
    with api(google) as client:
        items, _, _ = list_all(client, timeMin=base.isoformat(), timeMax=(base + timedelta(days=30)).isoformat(),
                               orderBy="startTime")
        assert [e["id"] for e in items] == [running["id"], early["id"]]
        assert late["id"] not in [e["id"] for e in items]
        empty = client.get(events_path(), params={"timeMin": base.isoformat(), "timeMax": base.isoformat()})
        assert empty.status_code == 400 and empty.json()["error"]["errors"][0]["reason"] == "timeRangeEmpty"


def test_incremental_sync_returns_exactly_the_changes(google):
    keep = google.add_event(ANA, "Keep", soon())
    move = google.add_event(ANA, "Move", soon(3))
    rename = google.add_event(ANA, "Rename", soon(4))
    cancel = google.add_event(ANA, "Cancel", soon(5))
    with api(google) as client:
        _, token, _ = list_all(client, timeMin=datetime.now(UTC).isoformat())

        google.move_event(ANA, move["id"], soon(48))
        google.update_event(ANA, rename["id"], summary="Renamed")
        google.cancel_event(ANA, cancel["id"])
        added = google.add_event(ANA, "Added", soon(6))
        changes, token2, _ = list_all(client, syncToken=token)

        assert [e["id"] for e in changes] == [move["id"], rename["id"], cancel["id"], added["id"]]
        assert keep["id"] not in {e["id"] for e in changes}
        tombstone = changes[2]
        assert tombstone == {"kind": "calendar#event", "etag": tombstone["etag"], "id": cancel["id"],
                             "status": "cancelled"}
        assert changes[0]["sequence"] == 1 and changes[0]["updated"] > move["updated"]
        assert changes[0]["etag"] != move["etag"]

        again, token3, _ = list_all(client, syncToken=token2)
        assert again == [] and token3 == token2  # nothing changed: Google hands the same token back

        # an old token still works (it is not expired, only older)
        assert len(list_all(client, syncToken=token)[0]) == 4


def test_sync_token_rules(google):
    google.add_event(ANA, "One", soon())
    with api(google) as client:
        _, token, _ = list_all(client)
        with_window = client.get(events_path(), params={"syncToken": token, "timeMin": soon().isoformat()})
        assert with_window.status_code == 400
        hide_deleted = client.get(events_path(), params={"syncToken": token, "showDeleted": "false"})
        assert hide_deleted.status_code == 400

        google.invalidate_sync_tokens(ANA)
        stale = client.get(events_path(), params={"syncToken": token, "singleEvents": "true"})
        assert stale.status_code == 410
        assert stale.json()["error"]["errors"][0]["reason"] == "fullSyncRequired"
        garbage = client.get(events_path(), params={"syncToken": "nonsense"})
        assert garbage.status_code == 410


def test_a_page_token_dies_with_its_sync_state(google):
    google.bulk_add(ANA, 30)
    with api(google) as client:
        first = client.get(events_path(), params={"singleEvents": "true", "maxResults": "10"}).json()
        google.invalidate_sync_tokens(ANA)
        second = client.get(events_path(), params={"singleEvents": "true", "maxResults": "10",
                                                   "pageToken": first["nextPageToken"]})
        assert second.status_code == 410


def test_recurring_series_expands_like_single_events(google):
    start = datetime(2030, 3, 20, 9, 0)  # Berlin wall time, across the DST change on 2030-03-31
    series = google.add_recurring(ANA, "Weekly sync", start, count=4)
    assert series["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    instances = google.instances(ANA, series["id"])
    assert [i["id"] for i in instances] == [
        f"{series['id']}_20300320T080000Z", f"{series['id']}_20300327T080000Z",
        f"{series['id']}_20300403T070000Z", f"{series['id']}_20300410T070000Z",
    ]
    assert all(i["start"]["dateTime"].startswith("2030-") and "T09:00:00" in i["start"]["dateTime"]
               for i in instances)
    assert all(i["recurringEventId"] == series["id"] and i["originalStartTime"] == i["start"]
               and i["iCalUID"] == series["iCalUID"] for i in instances)

    with api(google) as client:
        items, token, _ = list_all(client)
        assert [e["id"] for e in items] == [i["id"] for i in instances]  # no master with singleEvents

        google.move_instance(ANA, instances[1]["id"], datetime(2030, 3, 28, 15, 0))
        google.cancel_instance(ANA, instances[2]["id"])
        changes, token, _ = list_all(client, syncToken=token)
        moved, cancelled = changes
        assert moved["originalStartTime"] == instances[1]["start"]
        assert moved["start"]["dateTime"] == "2030-03-28T15:00:00+01:00"
        assert cancelled == {"kind": "calendar#event", "etag": cancelled["etag"], "id": instances[2]["id"],
                             "status": "cancelled", "recurringEventId": series["id"],
                             "originalStartTime": instances[2]["start"]}

        exceptions = client.get(events_path(), params={"singleEvents": "false"}).json()["items"]
        assert {e["id"] for e in exceptions} == {series["id"], instances[1]["id"]}


def test_this_and_following_splits_the_series(google):
    start = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
    series = google.add_recurring(ANA, "Weekly", start, count=6)
    with api(google) as client:
        _, token, _ = list_all(client)
        split_at = start + timedelta(days=21)
        new = google.split_series(ANA, series["id"], split_at, shift=timedelta(hours=2), summary="Weekly (later)")
        assert new["id"] == f"{series['id']}_R20300128T100000"
        changes, _, _ = list_all(client, syncToken=token)

    cancelled = [e["id"] for e in changes if e["status"] == "cancelled"]
    created = [e for e in changes if e["status"] == "confirmed"]
    assert cancelled == [f"{series['id']}_2030012{d}T100000Z" for d in (8,)] + [
        f"{series['id']}_20300204T100000Z", f"{series['id']}_20300211T100000Z"]
    assert [e["id"] for e in created] == [f"{new['id']}_20300128T120000Z", f"{new['id']}_20300204T120000Z",
                                         f"{new['id']}_20300211T120000Z"]
    assert all(e["summary"] == "Weekly (later)" and e["recurringEventId"] == new["id"] for e in created)
    assert "UNTIL=20300128T095959Z" in google.event(ANA, series["id"])["recurrence"][0]


def test_moving_a_whole_series_gives_new_instance_ids(google):
    series = google.add_recurring(ANA, "Daily", datetime(2030, 1, 7, 10, 0, tzinfo=UTC), count=3,
                                  interval=timedelta(days=1))
    old = [i["id"] for i in google.instances(ANA, series["id"])]
    google.update_series(ANA, series["id"], shift=timedelta(hours=1), summary="Daily (11:00)")
    new = google.instances(ANA, series["id"])
    assert [i["id"] for i in new] == [f"{series['id']}_2030010{d}T110000Z" for d in (7, 8, 9)]
    assert all(i["summary"] == "Daily (11:00)" for i in new)
    assert all(google.event(ANA, i)["status"] == "cancelled" for i in old)


def test_all_day_events_and_series(google):
    google.add_event(ANA, "Holiday", date(2030, 5, 1))
    series = google.add_recurring(ANA, "Sprint day", date(2030, 5, 6), count=2, interval=timedelta(days=14))
    with api(google) as client:
        items, _, _ = list_all(client)
    holiday = items[0]
    assert holiday["start"] == {"date": "2030-05-01"} and holiday["end"] == {"date": "2030-05-02"}
    assert [i["id"] for i in items[1:]] == [f"{series['id']}_20300506", f"{series['id']}_20300520"]
    assert items[2]["originalStartTime"] == {"date": "2030-05-20"}


def test_invitations_reach_guests_calendars_and_follow_the_organizer(google):
    google.add_account(BOB, time_zone="America/New_York")
    meeting = google.add_event(ANA, "Acme demo", soon(), conference="meet", attendees=[BOB, "eve@client.com"])
    with api(google, BOB) as bob:
        [copy], token, _ = list_all(bob, BOB)
        assert copy["id"] == meeting["id"] and copy["iCalUID"] == meeting["iCalUID"]
        assert copy["organizer"] == {"email": ANA, "displayName": "Ana"}
        assert [a.get("self", False) for a in copy["attendees"]] == [False, True, False]
        assert copy["hangoutLink"] == meeting["hangoutLink"]

        google.respond(BOB, meeting["id"], "declined")
        assert google.event(ANA, meeting["id"])["attendees"][1]["responseStatus"] == "declined"
        google.move_event(ANA, meeting["id"], soon(5))
        [moved], token, _ = list_all(bob, BOB, syncToken=token)
        organizers = google.event(ANA, meeting["id"])["start"]
        assert moved["start"]["dateTime"].endswith(("-04:00", "-05:00"))  # shown in Bob's zone
        assert datetime.fromisoformat(moved["start"]["dateTime"]) == datetime.fromisoformat(organizers["dateTime"])
        assert moved["attendees"][1]["responseStatus"] == "declined"  # their answer survives the move

        google.update_event(ANA, meeting["id"], attendees=["eve@client.com"])
        [removed], _, _ = list_all(bob, BOB, syncToken=token)
        assert removed["status"] == "cancelled"

    series = google.add_recurring(ANA, "Weekly 1:1", soon(), count=3, attendees=[BOB])
    assert len(google.instances(BOB, series["id"])) == 3
    google.cancel_instance(ANA, google.instances(ANA, series["id"])[1]["id"])
    assert len(google.instances(BOB, series["id"])) == 2


def test_bulk_add_is_fast_enough_for_the_benchmark(google):
    started = time.perf_counter()
    google.bulk_add(ANA, 20_000)
    assert time.perf_counter() - started < 5.0  # 100,000 in a few seconds
    assert len(google.calendars[ANA].events) == 20_000


def test_calendar_ids_are_path_safe(google):
    odd = google.add_calendar(ANA, "en.usa#holiday@group.v.calendar.google.com", summary="Holidays")
    google.add_event(odd, "Memorial Day", date(2030, 5, 27))
    with api(google) as client:
        response = client.get("/calendars/en.usa%23holiday%40group.v.calendar.google.com/events")
        assert [e["summary"] for e in response.json()["items"]] == ["Memorial Day"]
        other = client.get("/calendars/someone-else%40acme.com/events")
        assert other.status_code == 404


# -- 3. behaviour: push ------------------------------------------------------------------------

def watch(client, receiver, channel_id="chan-1", calendar_id=ANA, token="s3cret", ttl=None):
    body = {"id": channel_id, "type": "web_hook", "address": f"{receiver.url}/hook", "token": token}
    if ttl is not None:
        body["params"] = {"ttl": str(ttl)}
    response = client.post(f"{events_path(calendar_id)}/watch", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_push_is_sent_with_the_real_headers(google, receiver):
    with api(google) as client:
        channel = watch(client, receiver, ttl=3600)
        receiver.wait_for(lambda: len(receiver.hooks()) == 1)
        google.add_event(ANA, "New")
        receiver.wait_for(lambda: len(receiver.hooks()) == 2)

    sync, change = receiver.hooks()
    for push, state, number in ((sync, "sync", "1"), (change, "exists", "2")):
        assert push.body == b"" and push.method == "POST"
        assert push.headers["x-goog-channel-id"] == "chan-1"
        assert push.headers["x-goog-channel-token"] == "s3cret"
        assert push.headers["x-goog-resource-id"] == channel["resourceId"]
        assert push.headers["x-goog-resource-uri"] == channel["resourceUri"]
        assert push.headers["x-goog-resource-state"] == state
        assert push.headers["x-goog-message-number"] == number
        expiration = datetime.strptime(push.headers["x-goog-channel-expiration"], "%a, %d %b %Y %H:%M:%S GMT")
        assert abs(expiration.replace(tzinfo=UTC).timestamp() - int(channel["expiration"]) / 1000) < 1
    assert abs(int(channel["expiration"]) / 1000 - time.time() - 3600) < 5
    assert [p.outcome for p in google.pushes] == ["delivered", "delivered"]


def test_mutations_do_not_wait_for_a_slow_receiver(google, receiver):
    receiver.fail_next("/hook", None, delay=0.6, times=5)
    with api(google) as client:
        watch(client, receiver)
    started = time.perf_counter()
    for i in range(3):
        google.add_event(ANA, f"Event {i}")
    assert time.perf_counter() - started < 0.5


def test_channels_stop_and_expiry_end_pushes(google, receiver):
    with api(google) as client:
        channel = watch(client, receiver, ttl=60)
        assert client.post("/channels/stop", json={"id": "chan-1", "resourceId": "wrong"}).status_code == 404
        assert client.post("/channels/stop", json={"id": "chan-1", "resourceId": channel["resourceId"]}).status_code == 204
        assert client.post("/channels/stop", json={"id": "chan-1", "resourceId": channel["resourceId"]}).status_code == 404
        google.add_event(ANA, "After stop")
        watch(client, receiver, channel_id="chan-2", ttl=60)
        duplicate = client.post(f"{events_path()}/watch", json={"id": "chan-2", "type": "web_hook",
                                                                "address": f"{receiver.url}/hook"})
        assert duplicate.status_code == 400
    google.advance(61)
    google.add_event(ANA, "After expiry")
    google.wait_for_pushes(2)
    time.sleep(0.1)
    assert [(p.channel_id, p.state) for p in google.pushes] == [("chan-1", "sync"), ("chan-2", "sync")]


def test_push_modes(google, receiver):
    with api(google) as client:
        watch(client, receiver)
    google.wait_for_pushes(1)

    google.push_mode = "drop"
    google.add_event(ANA, "Dropped")
    assert google.pushes[-1].outcome == "dropped"

    google.push_mode = "duplicate"
    google.add_event(ANA, "Twice")
    google.wait_for_pushes(3)
    assert [p.message_number for p in google.pushes[-2:]] == [3, 3]

    google.push_mode = "reorder"
    google.add_event(ANA, "First")
    google.add_event(ANA, "Second")
    time.sleep(0.1)
    assert len(receiver.hooks()) == 3
    assert google.flush_pushes() == 2
    receiver.wait_for(lambda: len(receiver.hooks()) == 5)
    assert [h.headers["x-goog-message-number"] for h in receiver.hooks()[-2:]] == ["5", "4"]

    google.push_mode = "delay"
    google.push_delay = 0.3
    started = time.perf_counter()
    google.add_event(ANA, "Later")
    receiver.wait_for(lambda: len(receiver.hooks()) == 6)
    assert time.perf_counter() - started >= 0.25


def test_failed_deliveries_are_recorded(google, receiver):
    receiver.status = 500
    with api(google) as client:
        watch(client, receiver)
    [push] = google.wait_for_pushes(1)
    assert push.outcome == "failed" and push.status == 500


def test_deleting_a_calendar_sends_not_exists(google, receiver):
    team = google.add_calendar(ANA, summary="Team")
    with api(google) as client:
        watch(client, receiver, calendar_id=team)
        google.delete_calendar(team)
        assert client.get(events_path(team)).status_code == 404
    google.wait_for_pushes(2)
    assert [p.state for p in google.pushes] == ["sync", "not_exists"]


# -- 3. behaviour: OAuth -----------------------------------------------------------------------

def authorize_url(google, challenge=None, **overrides):
    verifier = secrets.token_urlsafe(48)
    challenge = challenge or base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"client_id": google.client_id, "redirect_uri": REDIRECT, "response_type": "code",
              "scope": f"openid email {READONLY}", "code_challenge": challenge, "code_challenge_method": "S256",
              "access_type": "offline", "prompt": "consent", "state": "xyz"}
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return f"{google.url}/o/oauth2/v2/auth?{urlencode(params)}", verifier


def redeem(google, code, verifier, **overrides):
    form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": REDIRECT, "client_id": google.client_id, "client_secret": google.client_secret}
    form.update(overrides)
    return httpx.post(f"{google.url}/token", data={k: v for k, v in form.items() if v is not None})


def consent(google, url) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(google.consent(url)).query).items()}


def test_consent_redirects_with_code_state_and_scope(google):
    google.next_login = ANA
    url, verifier = authorize_url(google)
    answer = consent(google, url)
    assert answer["state"] == "xyz" and answer["code"].startswith("4/0")
    assert set(answer["scope"].split()) == {"openid", "https://www.googleapis.com/auth/userinfo.email", READONLY}
    tokens = redeem(google, answer["code"], verifier).json()
    assert set(tokens) == {"access_token", "expires_in", "refresh_token", "scope", "token_type", "id_token"}
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3599


def test_id_token_is_a_signed_jwt_with_the_email(google):
    google.next_login = ANA
    url, verifier = authorize_url(google)
    id_token = redeem(google, consent(google, url)["code"], verifier).json()["id_token"]
    header, payload, signature = id_token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    claims = json.loads(base64.urlsafe_b64decode(pad(payload)))
    assert claims["email"] == ANA and claims["email_verified"] is True
    assert claims["aud"] == google.client_id and claims["iss"] == "https://accounts.google.com"
    assert claims["sub"].isdigit() and claims["hd"] == "acme.com"
    assert json.loads(base64.urlsafe_b64decode(pad(header)))["alg"] == "HS256"
    expected = hmac.new(google.client_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(signature)) == expected


def test_pkce_is_enforced(google):
    url, _ = authorize_url(google, code_challenge=None)
    no_challenge = url.replace("code_challenge=", "x=")
    assert httpx.get(no_challenge).status_code == 400
    plain, _ = authorize_url(google, code_challenge_method="plain")
    assert httpx.get(plain).status_code == 400

    url, verifier = authorize_url(google)
    code = consent(google, url)["code"]
    wrong = redeem(google, code, secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant",
                                                          "error_description": "Invalid code verifier."}
    missing = redeem(google, code, None)
    assert missing.json()["error"] == "invalid_grant"
    assert redeem(google, code, verifier).status_code == 200
    reused = redeem(google, code, verifier)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


def test_client_and_redirect_are_checked(google):
    bad_client, _ = authorize_url(google, client_id="someone-else")
    assert httpx.get(bad_client).status_code == 401
    google.redirect_uris = {REDIRECT}
    bad_redirect, _ = authorize_url(google, redirect_uri="https://evil.example/cb")
    assert httpx.get(bad_redirect).status_code == 400

    url, verifier = authorize_url(google)
    code = consent(google, url)["code"]
    assert redeem(google, code, verifier, client_secret="guess").status_code == 401
    mismatch = redeem(google, code, verifier, redirect_uri="http://127.0.0.1:3000/other")
    assert mismatch.json()["error"] == "redirect_uri_mismatch"
    basic = httpx.post(f"{google.url}/token", auth=(google.client_id, google.client_secret), data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})
    assert basic.status_code == 200  # client_secret_basic works as well as client_secret_post


def test_denied_consent(google):
    google.deny_next_consent()
    url, _ = authorize_url(google)
    assert consent(google, url) == {"error": "access_denied", "state": "xyz"}
    assert "code" in consent(google, url)  # only the next one


def test_refresh_token_only_with_offline_access_and_on_consent(google):
    online, verifier = authorize_url(google, access_type=None)
    assert "refresh_token" not in redeem(google, consent(google, online)["code"], verifier).json()
    first, verifier = authorize_url(google, prompt=None)
    assert "refresh_token" in redeem(google, consent(google, first)["code"], verifier).json()
    again, verifier = authorize_url(google, prompt=None)
    assert "refresh_token" not in redeem(google, consent(google, again)["code"], verifier).json()
    forced, verifier = authorize_url(google)  # prompt=consent
    assert "refresh_token" in redeem(google, consent(google, forced)["code"], verifier).json()


def test_refresh_revoke_and_expiry(google):
    tokens = google.grant(ANA)
    refresh = lambda: httpx.post(f"{google.url}/token", data={  # noqa: E731
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": google.client_id, "client_secret": google.client_secret})
    renewed = refresh().json()
    assert "refresh_token" not in renewed and renewed["access_token"] != tokens["access_token"]

    google.advance(3601)
    stale = httpx.get(f"{google.url}/calendar/v3/users/me/calendarList",
                      headers={"Authorization": f"Bearer {renewed['access_token']}"})
    assert stale.status_code == 401 and stale.json()["error"]["errors"][0]["reason"] == "authError"
    assert "invalid_token" in stale.headers["www-authenticate"]

    fresh = refresh().json()["access_token"]
    google.revoke(ANA)
    assert refresh().json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    revoked = httpx.get(f"{google.url}/calendar/v3/users/me/calendarList", headers={"Authorization": f"Bearer {fresh}"})
    assert revoked.status_code == 401


def test_scopes_are_enforced_per_method(google):
    with api(google, scopes=("openid", "email")) as client:
        denied = client.get(events_path())
        assert denied.status_code == 403
        assert denied.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    narrow = ("openid", "email", "https://www.googleapis.com/auth/calendar.events.readonly")
    with api(google, scopes=narrow) as client:
        assert client.get(events_path()).status_code == 200
        assert client.get("/users/me/calendarList").status_code == 403
    with httpx.Client() as client:
        anonymous = client.get(f"{google.url}/calendar/v3{events_path()}")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["errors"][0]["reason"] == "required"


def test_rate_limit_helper_speaks_googles_format(google):
    google.rate_limit_next("/events$", reason="userRateLimitExceeded")
    google.rate_limit_next("/calendarList$", status=429, retry_after=3)
    with api(google) as client:
        limited = client.get(events_path())
        assert limited.status_code == 403
        assert limited.json()["error"]["errors"][0] == {"domain": "usageLimits", "reason": "userRateLimitExceeded",
                                                       "message": "User Rate Limit Exceeded"}
        throttled = client.get("/users/me/calendarList")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "3"
        assert client.get(events_path()).status_code == 200
