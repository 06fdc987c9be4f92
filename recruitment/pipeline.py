"""The project status pipeline as data: which status may follow which. Pure, no database.

The standard 招商 milestones run lead → screening → negotiating → signed → registered
→ construction → production → at_capacity. A project can be suspended (中止) from any
open status and resume where it stopped or earlier, and lost (终止) from any status
before production, with a reason.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    LEAD = "lead", _("Lead 线索")
    SCREENING = "screening", _("Screening 研判")
    NEGOTIATING = "negotiating", _("Negotiating 洽谈")
    SIGNED = "signed", _("Signed 签约")
    REGISTERED = "registered", _("Registered 注册落地")
    CONSTRUCTION = "construction", _("Construction started 开工")
    PRODUCTION = "production", _("In production 投产")
    AT_CAPACITY = "at_capacity", _("At capacity 达产")
    SUSPENDED = "suspended", _("Suspended 中止")
    LOST = "lost", _("Lost 终止")


MILESTONES: tuple[str, ...] = (
    Status.LEAD,
    Status.SCREENING,
    Status.NEGOTIATING,
    Status.SIGNED,
    Status.REGISTERED,
    Status.CONSTRUCTION,
    Status.PRODUCTION,
    Status.AT_CAPACITY,
)

# Statuses in which the project is no longer worked on.
CLOSED: frozenset[str] = frozenset({Status.AT_CAPACITY, Status.LOST})
_STATUSES = frozenset(Status.values)  # ``Status.values`` builds its list on every call
# Signed or later on the milestone path: the project counts as filling its stages.
SIGNED_OR_LATER: frozenset[str] = frozenset(MILESTONES[MILESTONES.index(Status.SIGNED) :])
_LOSABLE = MILESTONES[: MILESTONES.index(Status.PRODUCTION)]

ALLOWED: dict[str, frozenset[str]] = {
    Status.LEAD: frozenset({Status.SCREENING, Status.SUSPENDED, Status.LOST}),
    Status.SCREENING: frozenset({Status.NEGOTIATING, Status.SUSPENDED, Status.LOST}),
    Status.NEGOTIATING: frozenset({Status.SIGNED, Status.SCREENING, Status.SUSPENDED, Status.LOST}),
    Status.SIGNED: frozenset({Status.REGISTERED, Status.SUSPENDED, Status.LOST}),
    Status.REGISTERED: frozenset({Status.CONSTRUCTION, Status.SUSPENDED, Status.LOST}),
    Status.CONSTRUCTION: frozenset({Status.PRODUCTION, Status.SUSPENDED, Status.LOST}),
    Status.PRODUCTION: frozenset({Status.AT_CAPACITY, Status.SUSPENDED}),
    Status.AT_CAPACITY: frozenset(),
    # Resuming goes back into the pipeline before signing; a signed project resumes
    # at the milestone it reached, which the service checks against its history.
    Status.SUSPENDED: frozenset(set(MILESTONES[:-1]) | {Status.LOST}),
    Status.LOST: frozenset(),
}


class IllegalTransition(Exception):
    """A status change the pipeline does not allow; ``str()`` is the user-facing message."""

    code = "illegal_transition"

    def __init__(self, from_status: str, to_status: str, reason: str | None = None) -> None:
        self.from_status = from_status
        self.to_status = to_status
        self.reason = reason
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.reason:
            return self.reason
        allowed = ", ".join(sorted(ALLOWED.get(self.from_status, ()))) or str(_("none"))
        return str(
            _("A project cannot move from “%(from)s” to “%(to)s”. Allowed next statuses: %(allowed)s.")
            % {"from": self.from_status, "to": self.to_status, "allowed": allowed}
        )


def check_transition(from_status: str, to_status: str, *, reason: str = "", resume_at: str | None = None) -> None:
    """Raise ``IllegalTransition`` unless ``from_status → to_status`` is allowed.

    ``reason`` is required for a move to ``lost``. ``resume_at`` is the last
    milestone reached before a suspension: a project resumes at it or before it,
    never past it (suspending is no shortcut to signing).
    """
    if to_status not in _STATUSES:
        raise IllegalTransition(from_status, to_status, str(_("“%(to)s” is not a status.") % {"to": to_status}))
    if from_status == to_status:
        raise IllegalTransition(from_status, to_status, str(_("The project is already “%(to)s”.") % {"to": to_status}))
    if to_status not in ALLOWED.get(from_status, frozenset()):
        raise IllegalTransition(from_status, to_status)
    if to_status == Status.LOST and not reason.strip():
        raise IllegalTransition(from_status, to_status, str(_("A reason is required to mark a project as lost.")))
    if from_status == Status.SUSPENDED and to_status in MILESTONES and resume_at in MILESTONES:
        if MILESTONES.index(to_status) > MILESTONES.index(resume_at):
            raise IllegalTransition(
                from_status,
                to_status,
                str(
                    _("A suspended project resumes at “%(at)s” or earlier, not at “%(to)s”.")
                    % {"at": resume_at, "to": to_status}
                ),
            )
    if (
        from_status == Status.SUSPENDED
        and to_status == Status.LOST
        and resume_at in (Status.PRODUCTION, Status.AT_CAPACITY)
    ):
        # The generic message would list "lost" as allowed from "suspended": say why not.
        raise IllegalTransition(
            from_status,
            to_status,
            str(_("A project that reached “%(at)s” cannot be marked lost; resume it instead.") % {"at": resume_at}),
        )


def is_open(status: str) -> bool:
    return status not in CLOSED
