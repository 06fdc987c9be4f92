"""Admin for the pipeline: projects, status history, follow-ups."""

# Reminder admin lives in its own module; importing it registers it.
from recruitment import reminders_admin  # noqa: F401
