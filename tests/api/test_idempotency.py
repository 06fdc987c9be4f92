"""Idempotency-Key: the same request replays its first answer; another request with the key is 422."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from api.idempotency import idempotency_purge
from api.models import IdempotencyRecord
from crm.models import Enterprise
from tests.api.conftest import api_for


def test_same_key_and_body_replays_the_first_response_and_creates_nothing_more(db, api_a):
    headers = {"Idempotency-Key": "k-1"}
    first = api_a.post("enterprises/", {"name": "甲"}, headers=headers)
    second = api_a.post("enterprises/", {"name": "甲"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first.headers["ETag"] == second.headers["ETag"] and first.headers["Location"] == second.headers["Location"]
    assert (first.headers["Idempotent-Replayed"], second.headers["Idempotent-Replayed"]) == ("false", "true")
    assert Enterprise.objects.count() == 1


def test_same_key_with_another_body_is_422(db, api_a):
    api_a.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "k-2"})
    r = api_a.post("enterprises/", {"name": "乙"}, headers={"Idempotency-Key": "k-2"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "idempotency_key_reused"
    r = api_a.post(
        "enterprises/bulk/", {"items": [{"external_id": "x", "name": "甲"}]}, headers={"Idempotency-Key": "k-2"}
    )
    assert r.status_code == 422
    assert Enterprise.objects.count() == 1


def test_a_refused_request_leaves_the_key_free(db, api_a):
    assert api_a.post("enterprises/", {"name": ""}, headers={"Idempotency-Key": "k-3"}).status_code == 400
    assert api_a.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "k-3"}).status_code == 201
    assert IdempotencyRecord.objects.count() == 1


def test_keys_belong_to_one_api_key(db, api_a, office_a):
    other = api_for(office_a)
    api_a.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "k-4"})
    assert other.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "k-4"}).status_code == 201
    assert Enterprise.objects.count() == 2


def test_an_unusable_key_is_400(db, api_a):
    r = api_a.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "x" * 256})
    assert r.status_code == 400 and r.json()["errors"][0]["attr"] == "Idempotency-Key"


def test_old_keys_are_purged(db, api_a, time_machine):
    time_machine.move_to("2026-01-01T00:00:00Z")
    api_a.post("enterprises/", {"name": "甲"}, headers={"Idempotency-Key": "k-5"})
    time_machine.move_to("2026-01-02T01:00:00Z")
    assert idempotency_purge() == 1 and not IdempotencyRecord.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_key_create_one_record_with_identical_answers(office_a):
    """Both requests start together; the second waits on the claimed key and replays."""
    api = api_for(office_a)
    barrier = threading.Barrier(4)
    answers = []

    def send() -> None:
        try:
            barrier.wait()
            r = api.post(
                "enterprises/bulk/",
                {"items": [{"external_id": "B-1", "name": "甲"}]},
                headers={"Idempotency-Key": "same"},
            )
            answers.append((r.status_code, r.content))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 4
    assert {a for a in answers} == {answers[0]} and answers[0][0] == 200
    assert Enterprise.objects.count() == 1 and Enterprise.objects.get().version == 1
