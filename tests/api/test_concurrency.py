"""Concurrency on real PostgreSQL with real threads: the change feed under overlapping
writers, and If-Match under two simultaneous writers.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from crm.models import ChangeEntry, Contact
from tests.api.conftest import Api, api_for, wait_for_feed_horizon
from tests.factories import ParkFactory, StageFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RESOURCES = {
    "enterprise": "enterprises",
    "contact": "contacts",
    "interaction": "interactions",
    "project": "projects",
    "follow_up": "follow-ups",
}


class FeedReader:
    """A partner's sync loop: follow ``changes/`` and keep a copy of every record."""

    def __init__(self, api: Api, page: int) -> None:
        self.api = api
        self.page = page
        self.copy: dict[tuple[str, str], dict] = {}
        self.after: str | None = None
        self.pages = 0

    def poll(self) -> int:
        params = {"limit": self.page, **({"after": self.after} if self.after else {})}
        r = self.api.get("changes/", **params)
        assert r.status_code == 200, r.content
        body = r.json()
        for entry in body["results"]:
            key = (entry["type"], entry["id"])
            if entry["op"] == "delete":
                self.copy.pop(key, None)
            else:
                self.copy[key] = entry["data"]
        self.after = body["next"]
        self.pages += 1
        return len(body["results"])

    def drain(self) -> None:
        wait_for_feed_horizon()
        while self.poll():
            pass


class SlowWriter:
    """Writes through the API, each request inside a transaction held open a random while,
    so transactions overlap and commit in another order than their ids were allocated."""

    def __init__(self, api: Api, commits: list[tuple[int, int]], lock: threading.Lock, seed: int) -> None:
        self.api = api
        self.commits = commits
        self.lock = lock
        self.random = random.Random(seed)

    def write(self, request: Callable[[], object]) -> None:
        with transaction.atomic():
            request()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()::text::bigint")
                txid = cursor.fetchone()[0]
            time.sleep(self.random.uniform(0, 0.03))
        with self.lock:
            self.commits.append((len(self.commits), txid))


def _run_writers(office_a, office_b, stage_codes, park_code, enterprise_ids, rounds):  # type: ignore[no-untyped-def]
    commits: list[tuple[int, int]] = []
    lock = threading.Lock()
    errors: list[str] = []

    def work(office, seed: int) -> None:  # type: ignore[no-untyped-def]
        try:
            writer = SlowWriter(api_for(office), commits, lock, seed)
            api, rnd = writer.api, writer.random
            mine: list[str] = []
            projects: list[str] = []

            def create_contact(enterprise: str, name: str) -> None:
                mine.append(api.post("contacts/", {"enterprise": enterprise, "name": name}).json()["id"])

            def create_project(enterprise: str, title: str, stage: str) -> None:
                body = {"title": title, "enterprise": enterprise, "park": park_code, "stages": [stage]}
                projects.append(api.post("projects/", body).json()["id"])

            for step in range(rounds):
                enterprise = rnd.choice(enterprise_ids)
                action = rnd.random()
                name = f"{seed}-{step}"
                if action < 0.3 or not mine:
                    writer.write(lambda e=enterprise, n=name: create_contact(e, f"联系人{n}"))
                elif action < 0.45:
                    writer.write(lambda t=rnd.choice(mine), n=name: api.patch(f"contacts/{t}/", {"title": n}))
                elif action < 0.55:
                    writer.write(lambda t=mine.pop(rnd.randrange(len(mine))): api.delete(f"contacts/{t}/"))
                elif action < 0.65:
                    body = {
                        "enterprise": enterprise,
                        "kind": "call",
                        "summary": f"电话{name}",
                        "occurred_at": "2026-03-01T10:00:00Z",
                        "contacts": mine[-2:],
                    }
                    writer.write(lambda b=body: api.post("interactions/", b))
                elif action < 0.75 and office is office_a:
                    writer.write(lambda e=enterprise, n=name: api.patch(f"enterprises/{e}/", {"name": f"企业{n}"}))
                elif action < 0.9 or not projects:
                    stage = rnd.choice(stage_codes)
                    writer.write(lambda e=enterprise, n=name, s=stage: create_project(e, f"项目{n}", s))
                else:
                    body = {"priority": rnd.choice(["high", "low", "normal"])}
                    writer.write(lambda t=rnd.choice(projects), b=body: api.patch(f"projects/{t}/", b))
        except BaseException:  # noqa: BLE001 - reported by the main thread
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(office, seed))
        for seed, office in enumerate([office_a, office_a, office_a, office_b])
    ]
    for t in threads:
        t.start()
    return threads, commits, errors


def test_the_feed_reader_copy_equals_the_database_after_concurrent_writers(settings, office_a, office_b):
    """No change skipped, no stale version, whatever order overlapping writers commit in.

    Checked over several rounds; in each one at least one transaction commits after a
    transaction with a higher id (what defeats an auto-increment or updated_at cursor).
    """
    settings.API_THROTTLE_RATE = "1000000/min"
    park = ParkFactory(code="yangqu")
    first = StageFactory(code="s1")
    stage_codes = ["s1", StageFactory(code="s2", chain=first.chain).code]
    api_a = api_for(office_a)
    enterprise_ids = [api_a.post("enterprises/", {"name": f"企业{n}"}).json()["id"] for n in range(4)]

    for round_ in range(2):
        reader = FeedReader(api_for(office_a), page=7)
        threads, commits, errors = _run_writers(office_a, office_b, stage_codes, park.code, enterprise_ids, rounds=18)
        while any(t.is_alive() for t in threads):
            reader.poll()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        reader.drain()

        out_of_order = any(t1 > t2 for (_i, t1), (_j, t2) in zip(commits, commits[1:], strict=False))
        assert out_of_order, "writers committed in id order: the test did not exercise the hard case"

        expected = {}
        for type_name, resource in RESOURCES.items():
            after = None
            while True:
                body = api_a.get(f"{resource}/", limit=500, **({"cursor": after} if after else {})).json()
                expected.update({(type_name, item["id"]): item for item in body["results"]})
                if not body["next"]:
                    break
                after = body["next"].split("cursor=")[1].split("&")[0]
        missing = expected.keys() - reader.copy.keys()
        extra = reader.copy.keys() - expected.keys()
        stale = [k for k in expected.keys() & reader.copy.keys() if expected[k] != reader.copy[k]]
        assert not missing and not extra and not stale, (round_, missing, extra, stale[:3])
        assert all(
            office == "office-a"
            for (t, _id), item in reader.copy.items()
            if t != "enterprise"
            for office in [item["office"]]
        )
        assert Contact.objects.filter(office=office_b).exists()  # B wrote too, unseen by A


def _wait_until_blocked(count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction the activity view is a snapshot: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
            time.sleep(0.02)
        cursor.execute(
            "SELECT state, wait_event_type, wait_event, left(query, 100) FROM pg_stat_activity "
            "WHERE datname = current_database()"
        )
        activity = cursor.fetchall()
    raise AssertionError(f"the requests did not both reach the row lock: {activity}")


def test_two_concurrent_puts_with_the_same_if_match_give_one_200_and_one_412(office_a):
    api = api_for(office_a)
    clients = [api_for(office_a), api_for(office_a)]  # a test client is not thread-safe: one each
    enterprise = api.post("enterprises/", {"name": "甲"}).json()
    contact = api.post("contacts/", {"enterprise": enterprise["id"], "name": "张三"}).json()
    for attempt in range(3):
        version = api.get(f"contacts/{contact['id']}/").json()["version"]
        answers: list[int] = []

        def put(client: Api, name: str, version: int = version, answers: list[int] = answers) -> None:
            try:
                r = client.put(
                    f"contacts/{contact['id']}/",
                    {"enterprise": enterprise["id"], "name": name},
                    headers={"If-Match": f'"{version}"'},
                )
                answers.append(r.status_code)
            finally:
                connection.close()

        # Hold the row so that both requests are in flight together, then let them race.
        with transaction.atomic():
            Contact.objects.select_for_update().get(pk=contact["id"])
            threads = [threading.Thread(target=put, args=(clients[n], f"名字{attempt}-{n}")) for n in range(2)]
            for t in threads:
                t.start()
            _wait_until_blocked(2)
        for t in threads:
            t.join()
        assert sorted(answers) == [200, 412], answers
        assert Contact.objects.get(pk=contact["id"]).version == version + 1
    assert ChangeEntry.objects.filter(object_id=contact["id"]).count() == 1
