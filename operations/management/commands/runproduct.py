"""``manage.py runproduct`` (what ``make run`` calls): the whole product in one terminal.

Migrates, loads the reference data and the illustrative demo (``seed --demo``,
called by name: nothing of the product imports its seed data),
collects static files when the app serves them itself (DEBUG off), then runs the
web server, a Celery worker and Celery beat as child processes until Ctrl-C.

With no ``DATABASE_URL`` and no ``REDIS_URL`` that is SQLite and the file-system
broker under ``var/``: nothing to install but Python. With ``REDIS_URL`` set the
same three processes use Redis. E-mail goes to the console unless
``EMAIL_BACKEND`` says otherwise, so reminders show up in this terminal; a demo
follow-up falling due a minute after start shows one firing.

Each child runs in a session of its own: Ctrl-C (or SIGTERM) reaches this command
only, which then stops the children in order and waits for them. A child that
dies on its own is reported and the others are stopped: a product half running
looks healthy and is not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

DEMO_REMINDER_PREFIX = "demo-reminder-"


class Command(BaseCommand):
    help = "Migrate, seed the demo, then run web, Celery worker and Celery beat together until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=os.environ.get("RUN_ADDR", "127.0.0.1:8000"), help="host:port to serve")
        parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
        parser.add_argument(
            "--no-demo", action="store_true", help="Reference data only: no demo data and no demo reminder."
        )
        parser.add_argument(
            "--allow-published-password",
            action="store_true",
            help="With DJANGO_DEBUG off, let `seed --demo` create its logins with the published password.",
        )
        parser.add_argument(
            "--demo-reminder-in",
            type=float,
            default=60,
            metavar="SECONDS",
            help="When the demo follow-up falls due, in seconds from start (default 60).",
        )

    def handle(
        self,
        *args: Any,
        addr: str,
        concurrency: int,
        no_demo: bool,
        demo_reminder_in: float,
        allow_published_password: bool = False,
        **options: Any,
    ) -> None:
        root = Path(settings.BASE_DIR)
        self._step(_("Migrating the database"))
        call_command("migrate", interactive=False, verbosity=1, stdout=self.stdout)
        self._step(_("Loading the reference data") if no_demo else _("Loading the reference data and the demo"))
        seed_output = StringIO()
        seed_options = {"allow_published_password": True} if allow_published_password and not no_demo else {}
        call_command("seed", demo=not no_demo, stdout=seed_output, **seed_options)
        self.stdout.write(seed_output.getvalue().rstrip())
        if not settings.DEBUG:
            self._step(_("Collecting static files"))
            call_command("collectstatic", interactive=False, verbosity=0)
        from config.celery import beat_schedule_sync

        beat_schedule_sync()
        demo_due = None if no_demo else self._demo_reminder(timedelta(seconds=demo_reminder_in))

        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_DEBUG": "1" if settings.DEBUG else "0"}
        # Links in e-mails point at this server unless the operator said otherwise.
        env.setdefault("SITE_URL", f"http://{addr}")
        python = sys.executable
        if settings.DEBUG:
            web = [python, "manage.py", "runserver", addr, "--noreload"]
        else:
            web = [
                python,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                addr,
                "--workers",
                "2",
                "--timeout",
                "120",
            ]
        celery = [python, "-m", "celery", "-A", "config"]
        commands = {
            "web": web,
            "worker": [*celery, "worker", "-l", "INFO", "-c", str(concurrency), "-n", "worker@%h"],
            "beat": [*celery, "beat", "-l", "INFO", "--pidfile="],
        }
        broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
        self._step(
            _("Starting web, worker and beat (database: %(db)s, broker: %(broker)s)")
            % {"db": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1], "broker": broker}
        )
        children = Children(commands, cwd=root, env=env, out=self.stdout)
        children.start()
        self._banner(addr, seed_output.getvalue(), demo_due, no_demo)
        code = children.supervise()
        if code:
            raise CommandError(_("Stopped because a process died (see above)."), returncode=code)

    # --- output --------------------------------------------------------------------------------
    def _step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"==> {text}"))

    def _banner(self, addr: str, seed_output: str, demo_due: Any, no_demo: bool) -> None:
        lines = [
            "",
            _("Chain Recruit is running: http://%(addr)s/admin/  (API: http://%(addr)s/api/docs/)") % {"addr": addr},
        ]
        if not no_demo and seed_output.strip():
            # The seed command's last line names the demo login and its password.
            lines.append(seed_output.strip().splitlines()[-1])
        if demo_due is not None:
            lines.append(
                _("A demo follow-up falls due at %(time)s; its reminder e-mail prints here within a minute of that.")
                % {"time": timezone.localtime(demo_due).strftime("%H:%M:%S")}
            )
        lines += [_("Press Ctrl-C to stop web, worker and beat."), ""]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))

    # --- the demo reminder -----------------------------------------------------------------------
    def _demo_reminder(self, delay: timedelta) -> Any:
        """A demo follow-up due a minute from now, so a reminder visibly fires; earlier ones are cancelled."""
        from crm.models import User
        from recruitment.models import FollowUp, Project
        from recruitment.pipeline import CLOSED
        from recruitment.services import followup_cancel, followup_create

        user = User.objects.filter(username="demo").first()
        open_demo = Project.objects.filter(is_demo=True).exclude(status__in=CLOSED).order_by("created_at")
        project = (
            open_demo.filter(office=user.office).first() if user and user.office_id else None
        ) or open_demo.first()
        if user is None or project is None:
            self.stderr.write(_("No demo user or demo project: no demo reminder this time."))
            return None
        now = timezone.now()
        due = now + delay
        with transaction.atomic():
            for old in FollowUp.objects.filter(
                external_id__startswith=DEMO_REMINDER_PREFIX, status=FollowUp.Status.OPEN
            ).order_by("pk"):
                followup_cancel(follow_up=old, actor=None)
            followup_create(
                office=project.office,
                actor=None,
                project=project,
                assignee=user,
                due_at=due,
                note="演示（示例）：启动一分钟后到期，用来展示提醒邮件。Demo: falls due a minute after start to show a reminder.",
                external_id=f"{DEMO_REMINDER_PREFIX}{now:%Y%m%d%H%M%S}",
            )
        return due


class Children:
    """Child processes with prefixed output, stopped together on Ctrl-C, SIGTERM or the death of one."""

    def __init__(self, commands: dict[str, list[str]], *, cwd: Path, env: dict[str, str], out: Any) -> None:
        self.commands = commands
        self.cwd = cwd
        self.env = env
        self.out = out
        self.procs: dict[str, subprocess.Popen] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        width = max(map(len, self.commands))
        for name, argv in self.commands.items():
            proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop them in order
            )
            self.procs[name] = proc
            threading.Thread(target=self._pump, args=(name.ljust(width), proc.stdout), daemon=True).start()
        self.out.write(", ".join(f"{name} (pid {proc.pid})" for name, proc in self.procs.items()))

    def _pump(self, label: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self.out.write(f"{label} | {line}")
                self.out.flush()

    def supervise(self) -> int:
        """Wait until Ctrl-C, SIGTERM or a child's death; stop everything; 0 unless a child died."""
        signal.signal(signal.SIGTERM, lambda *_: self._stopping.set())
        died: tuple[str, int] | None = None
        try:
            while not self._stopping.is_set():
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        died = (name, proc.returncode)
                        break
                if died:
                    break
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        if died:
            self.out.write(
                _("*** %(name)s exited unexpectedly with code %(code)s: stopping the others.")
                % {"name": died[0], "code": died[1]}
            )
        else:
            self.out.write(_("Stopping web, worker and beat…"))
        self.stop()
        return 1 if died else 0

    def stop(self, timeout: float = 20) -> None:
        # The web first (no new work), then beat (no new scans), then the worker finishes what it holds.
        # Each gets SIGTERM itself (not its process group): Celery's worker then finishes
        # its tasks and stops its pool, gunicorn its workers.
        for name in ("web", "beat", "worker"):
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.out.write(_("*** %(name)s did not stop in %(s)d s: killing it.") % {"name": name, "s": timeout})
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
