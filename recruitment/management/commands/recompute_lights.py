"""``recompute_lights [PROJECT_ID ...]``: recompute warning lights now (all signed projects by default)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from recruitment.lights_service import lights_recompute


class Command(BaseCommand):
    help = "Recompute the warning lights of signed projects now; red ones get a supervision order."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("project_ids", nargs="*", help="Only these projects (ids).")

    def handle(self, *args: Any, project_ids: list[str], **options: Any) -> None:
        result = lights_recompute(project_ids=project_ids or None)
        self.stdout.write(
            f"{result.evaluated} evaluated, {len(result.changed)} changed, "
            f"{len(result.turned_red)} turned red, {len(result.orders)} orders opened"
        )
