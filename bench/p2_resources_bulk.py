"""P2 per resource: 1000 contacts, interactions, projects, follow-ups through POST …/bulk/.

Ours: one request of 1000 new items through Django's test client (validation,
references resolved, set-based writes: rows, versions, history with the copies of
many-to-many links, change-feed entries rendered by the API; for projects also the
derived chain role, the target stages, the status row and the four service-level
follow-ups with their history and feed entries).
Baseline measured in the same run (the floor): the same rows written in raw SQL —
one COPY into a staging table and one statement that inserts every row ours inserts
(the records, their links, their history rows and link copies, the feed entries with
the record as JSON built by PostgreSQL; for projects the status row and the
follow-ups with their history and feed entries), in one transaction, with no check
and no Python per item. Target: ours at most 3x its floor.
"""

from __future__ import annotations

import argparse
import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from uuid_utils.compat import uuid7

from bench.harness import analyze, row, timeit

OFFICE = "bench-p2r"
ITEMS = 1000
_counter = itertools.count()


# --- the items -------------------------------------------------------------------------------


def _contact_items(n: int, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    es = ctx["enterprises"]
    return [
        {
            "external_id": f"c-{run}-{i}",
            "enterprise": es[i % len(es)],
            "name": f"联系人{i}",
            "title": "总经理",
            "phone": f"138{i:08d}",
            "email": f"c{i}@example.cn",
            "wechat": f"wx{i}",
        }
        for i in range(n)
    ]


def _interaction_items(n: int, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    contacts = ctx["contacts"]  # (id, enterprise id)
    items = []
    for i in range(n):
        contact, enterprise = contacts[i % len(contacts)]
        items.append(
            {
                "external_id": f"i-{run}-{i}",
                "enterprise": enterprise,
                "kind": "visit",
                "occurred_at": "2026-03-01T10:00:00+08:00",
                "summary": f"第{i}次拜访：介绍园区政策，企业有意向考察。",
                "contacts": [contact],
            }
        )
    return items


def _project_items(n: int, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    es, stages = ctx["enterprises"], ctx["stage_codes"]
    return [
        {
            "external_id": f"p-{run}-{i}",
            "title": f"基准项目{i}",
            "enterprise": es[i % len(es)],
            "park": ctx["parks"][i % len(ctx["parks"])],
            "stages": [stages[i % len(stages)]],
            "priority": "normal",
            "planned_investment": f"{1_000_000 + i}.00",
            "expected_jobs": i % 300,
            "description": "拟投资建设生产线。",
        }
        for i in range(n)
    ]


def _follow_up_items(n: int, ctx: dict[str, Any]) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    projects = ctx["projects"]
    return [
        {
            "external_id": f"f-{run}-{i}",
            "project": projects[i % len(projects)],
            "kind": "manual",
            "due_at": "2030-01-01T09:00:00+08:00",
            "note": f"回访企业{i}",
        }
        for i in range(n)
    ]


# --- ours ------------------------------------------------------------------------------------


def _ours(client: Any, auth: dict[str, str], resource: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = orjson.dumps({"items": items})
    r = client.post(f"/api/v1/{resource}/bulk/", data=body, content_type="application/json", **auth)
    assert r.status_code == 200, r.content[:500]
    return r.json()["results"]


# --- the floor: the same rows in raw SQL -----------------------------------------------------


def _columns(model: Any) -> list[str]:
    return [f.column for f in model._meta.concrete_fields]


def _tracked(model: Any) -> list[str]:
    return [f.column for f in model.history.model._meta.concrete_fields if not f.name.startswith("history_")]


def _insert(model: Any, source: str, name: str) -> str:
    """A CTE ``name`` inserting ``source``'s rows into ``model``'s table, returning them."""
    cols = ", ".join(_columns(model))
    return f"{name} AS (INSERT INTO {model._meta.db_table} ({cols}) SELECT {cols} FROM {source} RETURNING *)"


def _history(model: Any, source: str, name: str, kind: str) -> str:
    cols = ", ".join(_tracked(model))
    return (
        f"{name} AS (INSERT INTO {model.history.model._meta.db_table} "
        f"({cols}, history_date, history_type, history_user_id) "
        f"SELECT {cols}, now(), '{kind}', %(user)s FROM {source} RETURNING history_id, id)"
    )


def _feed(type_name: str, source: str, name: str) -> str:
    return (
        f"{name} AS (INSERT INTO crm_changeentry (type, object_id, office_id, op, data, changed_at, txid, seq) "
        f"SELECT '{type_name}', r.id, r.office_id, 'upsert', row_to_json(r), now(), "
        f"pg_current_xact_id()::text::bigint, nextval('crm_changeentry_seq') FROM {source} r)"
    )


def _staged(conn: Any, model: Any, rows: list[list[Any]], extra: tuple[str, ...] = ()) -> None:
    cols = [*_columns(model), *(e.split()[0] for e in extra)]
    extra_sql = "".join(f", {e}" for e in extra)
    conn.execute(
        f"CREATE TEMP TABLE staging (LIKE {model._meta.db_table} INCLUDING DEFAULTS{extra_sql}) ON COMMIT DROP"
    )
    with conn.cursor().copy(f"COPY staging ({', '.join(cols)}) FROM STDIN") as copy:
        for values in rows:
            copy.write_row(values)


def _floor_plain(conn: Any, model: Any, type_name: str, rows: list[list[Any]], user: int) -> None:
    with conn.transaction():
        _staged(conn, model, rows)
        conn.execute(
            "WITH "
            + ", ".join([_insert(model, "staging", "r"), _history(model, "r", "h", "+"), _feed(type_name, "r", "f")])
            + " SELECT count(*) FROM r",
            {"user": user},
        )


def _floor_linked(
    conn: Any, model: Any, type_name: str, rows: list[list[Any]], user: int, link: str, owner: str, target: str
) -> None:
    """Rows with one many-to-many link each: the row, ``+`` history, the link, ``~`` history
    with its copy of the link, the feed entry."""
    table = model._meta.db_table
    with conn.transaction():
        _staged(conn, model, rows, extra=("link_id text",))
        conn.execute(
            "WITH "
            + ", ".join(
                [
                    _insert(model, "staging", "r"),
                    _history(model, "r", "h1", "+"),
                    f"l AS (INSERT INTO {table}_{link} ({owner}, {target}) "
                    f"SELECT s.id, s.link_id::{_link_type(target)} FROM staging s RETURNING id, {owner}, {target})",
                    _history(model, "r", "h2", "~"),
                    f"hl AS (INSERT INTO {model.history.model._meta.db_table}_{link} (id, {owner}, history_id, {target}) "
                    f"SELECT l.id, l.{owner}, h2.history_id, l.{target} FROM l JOIN h2 ON h2.id = l.{owner})",
                    _feed(type_name, "r", "f"),
                ]
            )
            + " SELECT count(*) FROM r",
            {"user": user},
        )


def _link_type(target: str) -> str:
    return "uuid" if target == "contact_id" else "bigint"


def _floor_projects(conn: Any, user: int, rows: list[list[Any]], follow_ups: list[list[Any]]) -> None:
    """Projects as :func:`_floor_linked` writes them, plus the status row and the four
    service-level follow-ups with their history and feed entries."""
    from recruitment.models import FollowUp, Project

    with conn.transaction():
        _staged(conn, Project, rows, extra=("link_id text",))
        conn.execute("CREATE TEMP TABLE staging_f (LIKE recruitment_followup INCLUDING DEFAULTS) ON COMMIT DROP")
        with conn.cursor().copy(f"COPY staging_f ({', '.join(_columns(FollowUp))}) FROM STDIN") as copy:
            for values in follow_ups:
                copy.write_row(values)
        conn.execute(
            "WITH "
            + ", ".join(
                [
                    _insert(Project, "staging", "r"),
                    _history(Project, "r", "h1", "+"),
                    "l AS (INSERT INTO recruitment_project_stages (project_id, stage_id) "
                    "SELECT s.id, s.link_id::bigint FROM staging s RETURNING id, project_id, stage_id)",
                    _history(Project, "r", "h2", "~"),
                    "hl AS (INSERT INTO recruitment_historicalproject_stages (id, project_id, history_id, stage_id) "
                    "SELECT l.id, l.project_id, h2.history_id, l.stage_id FROM l JOIN h2 ON h2.id = l.project_id)",
                    "sc AS (INSERT INTO recruitment_projectstatuschange "
                    "(id, project_id, from_status, to_status, changed_by_id, changed_at, note, created_at, updated_at) "
                    "SELECT gen_random_uuid(), r.id, '', 'lead', %(user)s, now(), '项目已创建。', now(), now() FROM r)",
                    _feed("project", "r", "f"),
                    "fu AS (INSERT INTO recruitment_followup SELECT s.* FROM staging_f s JOIN r ON r.id = s.project_id "
                    "RETURNING *)",
                    _history(FollowUp, "fu", "fh", "+"),
                    _feed("follow_up", "fu", "ff"),
                ]
            )
            + " SELECT count(*) FROM r",
            {"user": user},
        )


def _row_values(model: Any, values: dict[str, Any]) -> list[Any]:
    return [values.get(f.column) for f in model._meta.concrete_fields]


def _now() -> datetime:
    return datetime.now(UTC)


def _contact_rows(items: list[dict[str, Any]], office_id: int) -> list[list[Any]]:
    from crm.models import Contact

    now = _now()
    return [
        _row_values(
            Contact,
            {
                "id": uuid7(), "office_id": office_id, "external_id": it["external_id"], "version": 1,
                "created_at": now, "updated_at": now, "enterprise_id": it["enterprise"], "name": it["name"],
                "title": it["title"], "phone": it["phone"], "email": it["email"], "wechat": it["wechat"],
            },
        )
        for it in items
    ]  # fmt: skip


def _interaction_rows(items: list[dict[str, Any]], office_id: int) -> list[list[Any]]:
    from crm.models import Interaction

    now = _now()
    return [
        [
            *_row_values(
                Interaction,
                {
                    "id": uuid7(), "office_id": office_id, "external_id": it["external_id"], "version": 1,
                    "created_at": now, "updated_at": now, "enterprise_id": it["enterprise"], "kind": it["kind"],
                    "occurred_at": it["occurred_at"], "summary": it["summary"],
                },
            ),
            it["contacts"][0],
        ]
        for it in items
    ]  # fmt: skip


def _project_rows(
    items: list[dict[str, Any]], office_id: int, user: int, park_ids: dict[str, int], stage_ids: dict[str, int]
) -> tuple[list[list[Any]], list[list[Any]]]:
    from recruitment.models import FollowUp, Project

    now = _now()
    projects, follow_ups = [], []
    for it in items:
        pk = uuid7()
        projects.append(
            [
                *_row_values(
                    Project,
                    {
                        "id": pk, "office_id": office_id, "external_id": it["external_id"], "version": 1,
                        "created_at": now, "updated_at": now, "title": it["title"], "enterprise_id": it["enterprise"],
                        "park_id": park_ids[it["park"]], "status": "lead", "status_changed_at": now,
                        "lost_reason": "", "priority": it["priority"], "chain_role": "fill",
                        "chain_role_overridden": False, "planned_investment": it["planned_investment"],
                        "expected_jobs": it["expected_jobs"], "description": it["description"], "is_demo": False,
                    },
                ),
                stage_ids[it["stages"][0]],
            ]
        )  # fmt: skip
        for kind, hours in (("respond", 24), ("assess", 72), ("feedback", 168), ("report", 336)):
            follow_ups.append(
                _row_values(
                    FollowUp,
                    {
                        "id": uuid7(), "office_id": office_id, "external_id": "", "version": 1,
                        "created_at": now, "updated_at": now, "project_id": pk, "assignee_id": user, "kind": kind,
                        "due_at": now + timedelta(hours=hours), "note": "服务时限：跟进。", "status": "open",
                    },
                )
            )  # fmt: skip
    return projects, follow_ups


def _follow_up_rows(items: list[dict[str, Any]], office_id: int) -> list[list[Any]]:
    from recruitment.models import FollowUp

    now = _now()
    return [
        _row_values(
            FollowUp,
            {
                "id": uuid7(), "office_id": office_id, "external_id": it["external_id"], "version": 1,
                "created_at": now, "updated_at": now, "project_id": it["project"], "kind": it["kind"],
                "due_at": it["due_at"], "note": it["note"], "status": "open",
            },
        )
        for it in items
    ]  # fmt: skip


# --- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    import psycopg
    from django.db import connection
    from django.test import Client, override_settings

    from api.api_keys import api_key_create
    from bench.p1_project_page import _data as p1_data
    from chains.models import Park, Stage
    from crm.models import Contact, Enterprise, Interaction, Office
    from recruitment.models import FollowUp

    p1_data(500)  # parks, stages and enterprises to name
    office, _ = Office.objects.get_or_create(code=OFFICE, defaults={"name": "P2 resources bench", "kind": "partner"})
    issued = api_key_create(office=office, label="bench")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {issued.raw}"}
    user = issued.api_key.user_id
    parks = dict(Park.objects.filter(code__startswith="bench-park-").values_list("code", "pk"))
    stages = dict(Stage.objects.filter(code__startswith="bench-stage-").values_list("code", "pk"))
    ctx: dict[str, Any] = {
        "enterprises": [str(pk) for pk in Enterprise.objects.filter(name__startswith="基准企业").values_list("pk", flat=True)[:100]],
        "parks": list(parks),
        "stage_codes": list(stages),
    }  # fmt: skip
    n = 200 if args.quick else ITEMS
    repeat = 1 if args.quick else 3
    client = Client()
    rows_out = []
    with (
        override_settings(API_THROTTLE_RATE="100000000/min"),
        psycopg.connect(**connection.get_connection_params()) as raw,
    ):
        # Records the later resources name: contacts for interactions, projects for follow-ups.
        made = _ours(client, auth, "contacts", _contact_items(200, ctx))
        ctx["contacts"] = [
            (str(c.pk), str(c.enterprise_id)) for c in Contact.objects.filter(pk__in=[m["id"] for m in made])
        ]
        ctx["projects"] = [m["id"] for m in _ours(client, auth, "projects", _project_items(200, ctx))]
        analyze()
        cases = [
            ("contacts", _contact_items, lambda items: _floor_plain(raw, Contact, "contact", _contact_rows(items, office.pk), user)),
            (
                "interactions",
                _interaction_items,
                lambda items: _floor_linked(
                    raw, Interaction, "interaction", _interaction_rows(items, office.pk), user, "contacts", "interaction_id", "contact_id"
                ),
            ),
            ("projects", _project_items, lambda items: _floor_projects(raw, user, *_project_rows(items, office.pk, user, parks, stages))),
            ("follow-ups", _follow_up_items, lambda items: _floor_plain(raw, FollowUp, "follow_up", _follow_up_rows(items, office.pk), user)),
        ]  # fmt: skip
        for resource, make, floor_fn in cases:
            ours = timeit(
                lambda make=make, resource=resource: _ours(client, auth, resource, make(n, ctx)), repeat=repeat
            )
            floor = timeit(lambda make=make, floor_fn=floor_fn: floor_fn(make(n, ctx)), repeat=repeat)
            rows_out.append(
                row(
                    f"P2 {n} {resource} via bulk/ (one request) vs the same rows in raw SQL",
                    ours,
                    floor,
                    "raw_sql",
                    target="<=3.00",
                )
            )
    return rows_out
