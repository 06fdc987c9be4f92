"""Content-Security-Policy and Permissions-Policy on every response, and no page of ours that
needs inline script: every admin, report and tool page is rendered and scanned."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import (
    ContactFactory,
    FollowUpFactory,
    InteractionFactory,
    PresenceFactory,
    ProjectFactory,
    StageFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db]


class InlineScriptFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block: inline <script> bodies,
    on* event handler attributes and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            kind = (names.get("type") or "").lower()
            # Data blocks (JSON) are not executed and CSP lets them be.
            self._in_inline_script = "src" not in names and kind not in ("application/json", "application/ld+json")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}=javascript:…>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script and data.strip():
            self.problems.append(f"inline <script>: {data.strip()[:60]!r}")


def inline_script_problems(html: str) -> list[str]:
    finder = InlineScriptFinder()
    finder.feed(html)
    return finder.problems


def assert_policies(response) -> None:  # type: ignore[no-untyped-def]
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in csp
    policy = response["Permissions-Policy"]
    assert "camera=()" in policy and "geolocation=()" in policy and "microphone=()" in policy


@pytest.fixture
def superuser(provincial_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=provincial_office, is_staff=True, is_superuser=True, is_manager=True)


@pytest.fixture
def records(provincial_office):  # type: ignore[no-untyped-def]
    stage = StageFactory()
    PresenceFactory(stage=stage)
    project = ProjectFactory(office=provincial_office)
    project.stages.add(stage)
    contact = ContactFactory(office=provincial_office, enterprise=project.enterprise)
    InteractionFactory(office=provincial_office, enterprise=project.enterprise, project=project)
    FollowUpFactory(office=provincial_office, project=project)
    return {"project": project, "contact": contact}


def admin_pages() -> list[str]:
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        urls.append(reverse("admin:{}_{}_add".format(*info)))
        obj = model_admin.model._default_manager.order_by("pk").first()
        if obj is not None:
            urls.append(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
            urls.append(reverse("admin:{}_{}_history".format(*info), args=[obj.pk]))
    return urls


def test_admin_and_api_responses_carry_both_policies(client, superuser):
    assert_policies(client.get(reverse("admin:login")))
    client.force_login(superuser)
    assert_policies(client.get(reverse("admin:index")))
    assert_policies(client.get("/api/v1/parks/"))  # 401 without a key: the headers still go out
    assert_policies(client.get("/healthz"))
    assert_policies(client.get(reverse("api:docs")))


def test_no_rendered_page_needs_inline_script(client, superuser, records):
    client.raise_request_exception = False  # a read-only model's add page is a 403, not an error
    pages = [reverse("admin:login")]
    anonymous = {url: client.get(url) for url in pages}
    client.force_login(superuser)
    chain = records["project"].stages.first().chain
    pages = admin_pages() + [
        reverse("reports:dashboard"),
        reverse("reports:chain-maps"),
        reverse("reports:chain-map", args=[chain.code]),
        reverse("tools:import"),
        reverse("tools:export"),
        reverse("tools:duplicates"),
        reverse("api:docs"),
    ]
    responses = {**anonymous, **{url: client.get(url, HTTP_ACCEPT_LANGUAGE="en") for url in pages}}
    problems = {}
    for url, response in responses.items():
        assert response.status_code in (200, 403, 404), (url, response.status_code)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            assert_policies(response)
            found = inline_script_problems(response.content.decode())
            if found:
                problems[url] = found
    assert problems == {}
    assert len(responses) > 40  # every registered model's pages were rendered


def test_the_scanner_sees_inline_scripts_and_handlers():
    assert inline_script_problems("<script>alert(1)</script>")
    assert inline_script_problems('<select onchange="this.form.submit()"></select>')
    assert inline_script_problems('<a href="javascript:void(0)">x</a>')
    assert not inline_script_problems('<script src="/static/x.js" defer></script><a href="/x">x</a>')


def test_the_api_docs_load_their_script_from_the_app(client, superuser):
    client.force_login(superuser)
    page = client.get(reverse("api:docs")).content.decode()
    assert "?script" in page
    script = client.get(reverse("api:docs") + "?script=")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()
