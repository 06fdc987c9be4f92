"""Forms of the admin's work panel: quick logging and project status transitions.

They only translate input: the rules live in :mod:`recruitment.quick_log` and
:func:`recruitment.services.project_transition`, whose refusals the views put
back on these forms.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.access import scope_for_user
from crm.models import Contact, Enterprise, Interaction
from recruitment.models import Project
from recruitment.pipeline import ALLOWED, CLOSED, Status

LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


class LocalDateTimeInput(forms.DateTimeInput):
    """The browser's own date-time picker (no script to load, works the same in every language)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


def local_datetime_field(*, label: str, required: bool, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text=help_text,
        widget=LocalDateTimeInput(),
        input_formats=LOCAL_INPUT_FORMATS,
    )


class QuickLogForm(forms.Form):
    """What happened, with whom, and (optionally) when to follow up.

    Prefixed, so its fields never collide with the change form's on the same page.
    """

    prefix = "quick_log"

    kind = forms.ChoiceField(label=_("kind"), choices=Interaction.Kind.choices, initial=Interaction.Kind.CALL)
    occurred_at = local_datetime_field(label=_("when"), required=True)
    summary = forms.CharField(label=_("summary"), widget=forms.Textarea(attrs={"rows": 3}))
    project = forms.ModelChoiceField(
        label=_("project"), queryset=Project.objects.none(), required=False, empty_label=_("— no project —")
    )
    contacts = forms.ModelMultipleChoiceField(
        label=_("contacts"),
        queryset=Contact.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The enterprise's contacts kept by your office."),
    )
    follow_up_due_at = local_datetime_field(
        label=_("next follow-up due"),
        required=False,
        help_text=_("Optional: creates a follow-up for you on the project."),
    )
    follow_up_note = forms.CharField(label=_("follow-up note"), required=False, max_length=500)

    def __init__(self, *args: Any, user, enterprise: Enterprise, project: Project | None = None, **kwargs: Any) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("occurred_at", timezone.localtime().replace(second=0, microsecond=0))
        super().__init__(*args, **kwargs)
        self.enterprise = enterprise
        self.fixed_project = project
        contacts = scope_for_user(Contact.objects.filter(enterprise=enterprise), user=user)
        if project is not None:
            # The interaction will belong to the project's office: only its contacts fit.
            contacts = contacts.filter(office_id=project.office_id)
            self.fields["project"].queryset = Project.objects.filter(pk=project.pk)
            self.fields["project"].initial = project.pk
            self.fields["project"].widget = forms.HiddenInput()
        else:
            if getattr(user, "office_id", None):
                # Logged for the user's own office (unless a project of another office is chosen).
                contacts = contacts.filter(office_id=user.office_id)
            projects = scope_for_user(Project.objects.filter(enterprise=enterprise), user=user)
            self.fields["project"].queryset = projects.exclude(status__in=CLOSED).order_by("-created_at")
        self.fields["contacts"].queryset = contacts.order_by("name")

    def clean_project(self) -> Project | None:
        return self.fixed_project or self.cleaned_data.get("project")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("follow_up_due_at") and not data.get("project"):
            self.add_error("follow_up_due_at", _("A follow-up belongs to a project: choose the project."))
        return data


class TransitionForm(forms.Form):
    """Move a project to its next status. Only the allowed next statuses are offered; any
    other value that reaches the service is refused there with the pipeline's message."""

    prefix = "transition"

    to = forms.ChoiceField(label=_("new status"), choices=Status.choices)
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(
        label=_("reason lost"),
        required=False,
        help_text=_("Required when the project is lost (终止)."),
        max_length=1000,
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        allowed = ALLOWED.get(project.status, frozenset())
        self.fields["to"].widget.choices = [(value, label) for value, label in Status.choices if value in allowed]
        self.allowed = allowed
