"""The reminder pages of the admin: each user's own follow-ups, and the deliveries for managers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from recruitment.models import FollowUp, ReminderDelivery
from tests.factories import FollowUpFactory, OfficeFactory, UserFactory

pytestmark = pytest.mark.django_db

MY = reverse("admin:recruitment_myfollowup_changelist")
DELIVERIES = reverse("admin:recruitment_reminderdelivery_changelist")


@pytest.fixture
def staff(park_office):  # type: ignore[no-untyped-def]
    user = UserFactory(office=park_office, is_staff=True, email="zhao@yangqu.example")
    user.user_permissions.add(Permission.objects.get(codename="change_followup"))
    return user


@pytest.fixture
def manager(park_office):  # type: ignore[no-untyped-def]
    return UserFactory(office=park_office, is_staff=True, is_manager=True, email="sun@yangqu.example")


def _delivery(follow_up: FollowUp, **kw) -> ReminderDelivery:  # type: ignore[no-untyped-def]
    return ReminderDelivery.objects.create(
        kind=kw.pop("kind", "due"),
        follow_up=follow_up,
        project=follow_up.project,
        recipient=follow_up.assignee,
        due_at=follow_up.due_at,
        **kw,
    )


def test_my_followups_lists_only_my_open_followups_with_counts_and_the_last_reminder(client, staff, park_office):
    now = timezone.now()
    overdue = FollowUpFactory(office=park_office, assignee=staff, due_at=now - timedelta(days=2), note="逾期的跟进")
    upcoming = FollowUpFactory(office=park_office, assignee=staff, due_at=now + timedelta(days=2), note="下周的跟进")
    FollowUpFactory(office=park_office, assignee=staff, due_at=now, note="已完成的跟进", status="done")
    FollowUpFactory(office=park_office, assignee=UserFactory(office=park_office), due_at=now, note="同事的跟进")
    FollowUpFactory(office=OfficeFactory(), assignee=staff, due_at=now, note="别的办公室的跟进")
    _delivery(overdue, state="sent", sent_at=now - timedelta(days=2))
    client.force_login(staff)

    page = client.get(MY, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "逾期的跟进" in page and "下周的跟进" in page
    assert "已完成的跟进" not in page and "同事的跟进" not in page and "别的办公室的跟进" not in page
    assert "2 open, 1 past due, 1 overdue" in page
    assert client.get(MY, {"due": "escalated"}).context["cl"].result_count == 1
    assert client.get(MY, {"due": "upcoming"}).context["cl"].result_list[0].pk == upcoming.pk


def test_another_users_followup_is_not_found_on_my_followups(client, staff, park_office):
    theirs = FollowUpFactory(office=park_office, assignee=UserFactory(office=park_office), due_at=timezone.now())
    client.force_login(staff)

    response = client.get(reverse("admin:recruitment_myfollowup_change", args=[theirs.pk]))

    assert response.status_code == 404


def test_mark_done_from_my_followups_goes_through_the_service(client, staff, park_office):
    follow_up = FollowUpFactory(office=park_office, assignee=staff, due_at=timezone.now())
    client.force_login(staff)

    response = client.post(MY, {"action": "mark_done", "_selected_action": [str(follow_up.pk)]}, follow=True)

    assert response.status_code == 200
    follow_up.refresh_from_db()
    assert follow_up.status == "done" and follow_up.completed_at is not None and follow_up.version == 2


def test_my_followups_cannot_add_change_or_delete(client, staff, park_office):
    follow_up = FollowUpFactory(office=park_office, assignee=staff, due_at=timezone.now())
    client.force_login(staff)

    assert client.get(reverse("admin:recruitment_myfollowup_add")).status_code == 403
    response = client.post(reverse("admin:recruitment_myfollowup_change", args=[follow_up.pk]), {"note": "改掉"})
    assert response.status_code == 403
    follow_up.refresh_from_db()
    assert follow_up.note != "改掉"


def test_managers_see_their_offices_deliveries_with_failures_and_their_errors(client, manager, park_office):
    mine = FollowUpFactory(office=park_office, assignee=manager, due_at=timezone.now())
    other = FollowUpFactory(office=OfficeFactory(), due_at=timezone.now(), note="外单位")
    _delivery(mine, state="failed", attempts=5, last_error="SMTPServerDisconnected: Connection unexpectedly closed")
    foreign = _delivery(other, state="sent")
    client.force_login(manager)

    page = client.get(DELIVERIES, {"state": "failed"})

    assert page.status_code == 200
    assert "SMTPServerDisconnected" in page.content.decode()
    assert page.context["cl"].result_count == 1
    assert client.get(reverse("admin:recruitment_reminderdelivery_change", args=[foreign.pk])).status_code == 404


def test_staff_who_are_not_managers_do_not_see_the_deliveries(client, staff):
    client.force_login(staff)

    assert client.get(DELIVERIES).status_code == 403


def test_a_manager_can_send_a_failed_reminder_again_without_touching_the_broker(client, manager, park_office):
    follow_up = FollowUpFactory(office=park_office, assignee=manager, due_at=timezone.now())
    failed = _delivery(follow_up, state="failed", attempts=5, last_error="boom")
    sent = _delivery(follow_up, kind="overdue", state="sent")
    client.force_login(manager)

    client.post(DELIVERIES, {"action": "send_again", "_selected_action": [str(failed.pk), str(sent.pk)]})

    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.state, failed.attempts, failed.queued_at) == ("pending", 0, None)  # the next scan queues it
    assert sent.state == "sent"
