"""A careless or hostile partner: every input the API once guessed at is refused with a 4xx
naming the field and a code, on every path (create, upsert PUT, PATCH, bulk — also its fast
path), and nothing is written.
"""

from __future__ import annotations

import io
import json
import threading

import pytest
from django.db import connections

from crm.models import ChangeEntry, Contact, Enterprise, Interaction
from recruitment.models import FollowUp, Project
from tests.api.conftest import Api, api_for
from tests.api.test_concurrency import _wait_until_blocked
from tests.factories import OfficeFactory, valid_credit_code

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

MODELS = (Enterprise, Contact, Interaction, Project, FollowUp, ChangeEntry)


def _counts() -> dict[str, tuple[int, int]]:
    """Rows and the sum of versions per table: a refused request moves neither."""
    out = {}
    for model in MODELS:
        versions = sum(model.objects.values_list("version", flat=True)) if model is not ChangeEntry else 0
        out[model.__name__] = (model.objects.count(), versions)
    return out


def _refused(response, status: int, attr: str | None, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    errors = response.json()["errors"]
    assert (attr, code) in {(e["attr"], e["code"]) for e in errors}, errors


@pytest.fixture
def records(api_a, park, stages):  # type: ignore[no-untyped-def]
    """One record of each kind, for PATCH and for the references creates need."""
    enterprise = api_a.post("enterprises/", {"name": "示例企业", "external_id": "E-1"}).json()
    project = api_a.post(
        "projects/",
        {"title": "项目", "enterprise": enterprise["id"], "park": park.code, "stages": [stages[0].code]},
    ).json()
    interaction = api_a.post(
        "interactions/",
        {"enterprise": enterprise["id"], "kind": "call", "occurred_at": "2026-03-01T10:00:00+08:00", "summary": "通话"},
    ).json()
    follow_up = api_a.post(
        "follow-ups/", {"project": project["id"], "due_at": "2026-03-05T10:00:00Z", "note": "回访"}
    ).json()
    return {"enterprise": enterprise, "project": project, "interaction": interaction, "follow_up": follow_up}


def _project_body(records, park, stages, **extra):  # type: ignore[no-untyped-def]
    return {
        "title": "新项目",
        "enterprise": records["enterprise"]["id"],
        "park": park.code,
        "stages": [stages[0].code],
        **extra,
    }


# --- Unknown fields ---------------------------------------------------------------------


def test_unknown_fields_are_refused_on_create_upsert_patch_and_transition(api_a, records, park, stages):
    before = _counts()
    _refused(
        api_a.post("projects/", _project_body(records, park, stages, planed_investment="100")),
        400,
        "planed_investment",
        "unknown_field",
    )
    _refused(
        api_a.put("projects/external/P-9/", _project_body(records, park, stages, prority="high")),
        400,
        "prority",
        "unknown_field",
    )
    _refused(api_a.patch(f"projects/{records['project']['id']}/", {"prority": "high"}), 400, "prority", "unknown_field")
    # Read-only fields are not inputs either: a version in a body is not a concurrency check.
    _refused(
        api_a.patch(f"enterprises/{records['enterprise']['id']}/", {"version": 7}), 400, "version", "unknown_field"
    )
    _refused(
        api_a.post(f"projects/{records['project']['id']}/transition/", {"to": "contacted", "reason": "x"}),
        400,
        "reason",
        "unknown_field",
    )
    assert _counts() == before


def test_unknown_fields_in_bulk_name_the_item_on_the_fast_path_and_the_serializer_path(api_a, records, park, stages):
    before = _counts()
    # Enterprises: plain items go through the fast check, which hands this one to the serializer.
    r = api_a.post(
        "enterprises/bulk/",
        {"items": [{"external_id": "B-0", "name": "甲"}, {"external_id": "B-1", "name": "乙", "webiste": "x"}]},
    )
    _refused(r, 400, "items.1.webiste", "unknown_field")
    r = api_a.post(
        "projects/bulk/",
        {"items": [_project_body(records, park, stages, external_id="P-1", planed_investment="1")]},
    )
    _refused(r, 400, "items.0.planed_investment", "unknown_field")
    r = api_a.post("enterprises/bulk/", {"items": [{"external_id": "B-0", "name": "甲"}], "upsert": True})
    _refused(r, 400, "upsert", "unknown_field")
    assert _counts() == before


# --- Times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-03-01T10:00:00", "offset_required"),
        ("2026-03-01 10:00", "offset_required"),
        ("2026-03-01", "invalid"),
        ("20260301", "invalid"),
        # Well formed, but no such day or time: never a server error.
        ("2024-01-01T12:99:00Z", "invalid"),
        ("2026-02-30T10:00:00+08:00", "invalid"),
        ("2026-03-01T24:30:00Z", "invalid"),
        ("0001-01-01T00:00:00+08:00", "overflow"),
    ],
)
def test_times_without_an_offset_and_bare_dates_are_refused_everywhere(api_a, records, value, code):
    before = _counts()
    enterprise = records["enterprise"]["id"]
    interaction = {"enterprise": enterprise, "kind": "call", "summary": "通话", "occurred_at": value}
    _refused(api_a.post("interactions/", interaction), 400, "occurred_at", code)
    _refused(api_a.put("interactions/external/I-9/", interaction), 400, "occurred_at", code)
    _refused(
        api_a.patch(f"interactions/{records['interaction']['id']}/", {"occurred_at": value}), 400, "occurred_at", code
    )
    _refused(
        api_a.post("interactions/bulk/", {"items": [{**interaction, "external_id": "I-1"}]}),
        400,
        "items.0.occurred_at",
        code,
    )
    _refused(api_a.patch(f"follow-ups/{records['follow_up']['id']}/", {"due_at": value}), 400, "due_at", code)
    _refused(
        api_a.post(
            "follow-ups/bulk/",
            {"items": [{"external_id": "F-1", "project": records["project"]["id"], "due_at": value}]},
        ),
        400,
        "items.0.due_at",
        code,
    )
    assert _counts() == before


def test_a_time_with_its_offset_is_taken_exactly(api_a, records):
    r = api_a.patch(f"interactions/{records['interaction']['id']}/", {"occurred_at": "2026-03-01T10:00:00+08:00"})
    assert r.status_code == 200, r.content
    assert r.json()["occurred_at"] == "2026-03-01T02:00:00.000000Z"


# --- Money -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["1e5", "١٢٣", " 100 ", "100\n", "+100", "1,000", "0x10", "Infinity", "NaN"])
def test_amounts_other_than_plain_decimal_strings_are_refused_everywhere(api_a, records, park, stages, amount):
    before = _counts()
    _refused(
        api_a.post("projects/", _project_body(records, park, stages, planned_investment=amount)),
        400,
        "planned_investment",
        "invalid",
    )
    _refused(
        api_a.put("projects/external/P-9/", _project_body(records, park, stages, signed_amount=amount)),
        400,
        "signed_amount",
        "invalid",
    )
    _refused(
        api_a.patch(f"projects/{records['project']['id']}/", {"funds_in_place": amount}),
        400,
        "funds_in_place",
        "invalid",
    )
    _refused(
        api_a.post(
            "projects/bulk/",
            {"items": [_project_body(records, park, stages, external_id="P-1", planned_investment=amount)]},
        ),
        400,
        "items.0.planned_investment",
        "invalid",
    )
    # Enterprises' bulk takes plain amounts on its fast path: this one goes to the serializer.
    _refused(
        api_a.post(
            "enterprises/bulk/", {"items": [{"external_id": "B-1", "name": "甲", "registered_capital": amount}]}
        ),
        400,
        "items.0.registered_capital",
        "invalid",
    )
    _refused(
        api_a.patch(f"enterprises/{records['enterprise']['id']}/", {"registered_capital": amount}),
        400,
        "registered_capital",
        "invalid",
    )
    assert _counts() == before


def test_a_plain_amount_is_taken(api_a, records):
    r = api_a.patch(f"projects/{records['project']['id']}/", {"planned_investment": "1250000.5"})
    assert r.status_code == 200, r.content
    assert r.json()["planned_investment"] == "1250000.50"


# --- External ids ------------------------------------------------------------------------------


BAD_EXTERNAL_IDS = [" E-1", "E-1 ", "E 1", ".", "..", "a/b", "a?b", "a#b", "a%b", "a\tb", 'a"b', "x" * 129]


@pytest.mark.parametrize("external_id", BAD_EXTERNAL_IDS)
def test_an_external_id_a_url_cannot_carry_is_refused_in_a_body_and_in_bulk(api_a, records, external_id):
    before = _counts()
    _refused(api_a.post("enterprises/", {"name": "甲", "external_id": external_id}), 400, "external_id", "invalid")
    _refused(
        api_a.patch(f"enterprises/{records['enterprise']['id']}/", {"external_id": external_id}),
        400,
        "external_id",
        "invalid",
    )
    _refused(
        api_a.post("enterprises/bulk/", {"items": [{"name": "甲", "external_id": external_id}]}),
        400,
        "items.0.external_id",
        "invalid",
    )
    _refused(
        api_a.post(
            "contacts/", {"name": "张伟", "enterprise": records["enterprise"]["id"], "external_id": external_id}
        ),
        400,
        "external_id",
        "invalid",
    )
    assert _counts() == before
    assert Enterprise.objects.get(pk=records["enterprise"]["id"]).external_id == "E-1"


@pytest.mark.parametrize("path_id", ["%20E-1", "E-1%20", ".", "..", "E%201", "a%3Fb", "a%25b"])
def test_the_same_rule_holds_for_an_external_id_in_the_url(api_a, records, path_id):
    before = _counts()
    r = api_a.put(f"enterprises/external/{path_id}/", {"name": "甲"})
    assert r.status_code == 400, (path_id, r.content)
    assert r.json()["errors"][0]["attr"] == "external_id"
    assert api_a.get(f"enterprises/external/{path_id}/").status_code == 404
    assert _counts() == before


def test_an_external_id_in_any_script_and_the_allowed_punctuation_works_in_body_and_url(api_a):
    external_id = "客户-001_a.b~c:d@e(f)"
    from urllib.parse import quote

    r = api_a.put(f"enterprises/external/{quote(external_id, safe='')}/", {"name": "甲", "external_id": external_id})
    assert r.status_code == 201, r.content
    assert r.json()["external_id"] == external_id
    assert api_a.get(f"enterprises/external/{quote(external_id, safe='')}/").json()["id"] == r.json()["id"]


# --- Content type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "*/*",
        "application/*",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ],
)
def test_a_body_not_sent_as_json_is_415(api_a, content_type):
    before = _counts()
    extra = {"HTTP_AUTHORIZATION": f"Bearer {api_a.key}"}
    body = json.dumps({"name": "甲"}).encode()
    r = api_a.client.generic("POST", "/api/v1/enterprises/", body, content_type=content_type, **extra)
    _refused(r, 415, None, "unsupported_media_type")
    r = api_a.client.generic(
        "POST",
        "/api/v1/enterprises/bulk/",
        json.dumps({"items": [{"external_id": "B", "name": "甲"}]}),
        content_type=content_type,
        **extra,
    )
    _refused(r, 415, None, "unsupported_media_type")
    assert _counts() == before


def test_json_with_its_charset_is_accepted(api_a):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {api_a.key}"}
    body = json.dumps({"name": "甲"})
    r = api_a.client.generic(
        "POST", "/api/v1/enterprises/", body, content_type="application/json; charset=UTF-8", **extra
    )
    assert r.status_code == 201, r.content


# --- Body size ----------------------------------------------------------------------------------


class CountingStream:
    """A request body that counts what the server reads of it."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        chunk = self.stream.readline(size)
        self.read_bytes += len(chunk)
        return chunk


def _raw(api: Api, path: str, stream: CountingStream, **environ):  # type: ignore[no-untyped-def]
    return api.client.generic(
        "POST",
        path,
        b"",
        **{
            "HTTP_AUTHORIZATION": f"Bearer {api.key}",
            "CONTENT_TYPE": "application/json",
            "wsgi.input": stream,
            **environ,
        },
    )


def test_a_body_over_the_limit_is_413_before_any_of_it_is_read(api_a, settings):
    settings.API_MAX_BODY_BYTES = 4096
    before = _counts()
    body = json.dumps({"items": [{"external_id": f"B-{i}", "name": "甲" * 20} for i in range(200)]}).encode()
    stream = CountingStream(body)
    r = _raw(api_a, "/api/v1/enterprises/bulk/", stream, CONTENT_LENGTH=str(len(body)))
    _refused(r, 413, None, "request_too_large")
    assert stream.read_bytes == 0
    assert _counts() == before


def test_a_chunked_body_is_read_and_one_over_the_limit_is_refused_after_limit_plus_one_bytes(api_a, settings):
    settings.API_MAX_BODY_BYTES = 4096
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    small = CountingStream(json.dumps({"name": "分块企业", "external_id": "C-1"}).encode())
    r = _raw(api_a, "/api/v1/enterprises/", small, **chunked)
    assert r.status_code == 201, r.content
    assert Enterprise.objects.get(external_id="C-1").name == "分块企业"

    before = _counts()
    big = CountingStream(
        json.dumps({"items": [{"external_id": f"B-{i}", "name": "甲" * 20} for i in range(200)]}).encode()
    )
    r = _raw(api_a, "/api/v1/enterprises/bulk/", big, **chunked)
    _refused(r, 413, None, "request_too_large")
    assert big.read_bytes == 4097
    assert _counts() == before


def test_a_chunked_body_behind_a_server_that_does_not_decode_it_is_411_never_read_as_empty(api_a):
    before = _counts()
    stream = CountingStream('{"name": "甲"}'.encode())
    r = _raw(api_a, "/api/v1/enterprises/", stream, HTTP_TRANSFER_ENCODING="chunked")
    assert r.status_code == 411
    # An answer of unknown length: the server closes the connection, whose unread rest
    # would otherwise be taken for the next request (tests/api/test_body_limit_server.py).
    assert r.streaming and not r.has_header("Content-Length")
    errors = json.loads(b"".join(r.streaming_content))["errors"]
    assert [(e["attr"], e["code"]) for e in errors] == [(None, "length_required")]
    assert stream.read_bytes == 0
    assert _counts() == before


# --- A clash is 409 `duplicate`, also when concurrent ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_three_offices_racing_for_one_credit_code_get_one_201_and_two_409_duplicates_naming_it():
    offices = [OfficeFactory(code=f"race-{n}", kind="partner", name=f"办事处{n}") for n in range(3)]
    clients = [api_for(office) for office in offices]
    code = valid_credit_code(77)
    barrier = threading.Barrier(3)
    answers: list = [None] * 3

    def create(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[n] = clients[n].post(
                "enterprises/", {"name": f"竞争企业{n}", "credit_code": code, "external_id": f"PRIVATE-{n}"}
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409], [a.content for a in answers]
    winner = next(a for a in answers if a.status_code == 201)
    created = winner.json()
    for answer in answers:
        if answer.status_code != 409:
            continue
        body = answer.json()
        assert body["errors"] == [
            {
                "attr": "credit_code",
                "code": "duplicate",
                "detail": body["errors"][0]["detail"],
                "existing_id": created["id"],
            }
        ]
        # The enterprise's id is readable by everyone (a shared directory); its office's own id is not.
        assert created["external_id"].encode() not in answer.content
    assert Enterprise.objects.filter(credit_code=code).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_unique_clash_the_checks_could_not_see_is_409_duplicate_never_the_constraint_text(office_a):
    """Two creates of one external id: the second's check runs before the first commits."""
    from django.db import transaction

    from crm.services import enterprise_create

    client = api_for(office_a)
    holding = threading.Event()
    release = threading.Event()
    first_id: list = []

    def hold_first() -> None:
        try:
            with transaction.atomic():
                first_id.append(enterprise_create(office=office_a, name="先到企业", external_id="SAME").pk)
                holding.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_first)
    holder.start()
    assert holding.wait(timeout=30)
    answer: list = []

    def second() -> None:
        try:
            answer.append(client.post("enterprises/", {"name": "后到企业", "external_id": "SAME"}))
        finally:
            connections.close_all()

    racer = threading.Thread(target=second)
    racer.start()
    _wait_until_blocked(1)  # it checked (nothing committed yet), inserted and waits on the first
    release.set()
    holder.join(timeout=30)
    racer.join(timeout=30)
    r = answer[0]
    assert r.status_code == 409, r.content
    [error] = r.json()["errors"]
    assert (error["attr"], error["code"], error["existing_id"]) == ("external_id", "duplicate", str(first_id[0]))
    assert "unique" not in error["detail"].lower()
    assert Enterprise.objects.filter(external_id="SAME").count() == 1


def test_the_default_body_limit_holds_a_full_bulk_of_the_largest_resource():
    """1000 projects, every field at its longest but the description (2,000 Chinese characters,
    sent \\u-escaped as the most verbose JSON encoder would): under the default limit."""
    from django.conf import settings

    stages = [f"polyacrylonitrile-precursor-{n:02d}" for n in range(10)]
    amount = "9999999999999999.99"
    item = {
        "external_id": "x" * 128,
        "title": "碳" * 200,
        "enterprise": "8d6b2c8e-2f0a-4a53-9c7e-1d2f3a4b5c6d",
        "park": "p" * 64,
        "stages": stages,
        "status": "negotiating",
        "chain_role": "strengthen",
        "priority": "high",
        "planned_investment": amount,
        "signed_amount": amount,
        "funds_in_place": amount,
        "expected_output_value": amount,
        "expected_jobs": 2_147_483_647,
        "description": "碳" * 2000,
    }
    size = len(json.dumps({"items": [item] * 1000}, ensure_ascii=True).encode())
    assert 13 * 1024 * 1024 < size < settings.API_MAX_BODY_BYTES
