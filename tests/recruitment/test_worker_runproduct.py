"""``make run`` (``manage.py runproduct``) on the embedded default: SQLite and the file-system broker.

A fresh directory, no DATABASE_URL and no REDIS_URL: the command migrates, seeds the
demo and runs web, worker and beat; a demo follow-up falls due and its reminder
prints in the console. Ctrl-C stops everything cleanly; a child that dies is
reported and the others are stopped.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.recruitment.reminder_processes import ROOT, free_port, wait_for

pytestmark = pytest.mark.slow


class Product:
    """``manage.py runproduct`` as ``make run`` starts it, with its console captured."""

    def __init__(self, var_dir: Path) -> None:
        self.port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "TEST_REDIS_URL", "EMAIL_BACKEND", "DJANGO_SECRET_KEY"}
        }
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DJANGO_DEBUG="1",
            CHAIN_RECRUIT_VAR_DIR=str(var_dir),
            REMINDER_SCAN_SECONDS="2",
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runproduct", "--addr", f"127.0.0.1:{self.port}", "--demo-reminder-in", "5"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def pids(self) -> dict[str, int]:
        found = re.search(r"web \(pid (\d+)\), worker \(pid (\d+)\), beat \(pid (\d+)\)", self.output)
        assert found, self.output[-3000:]
        return dict(zip(("web", "worker", "beat"), map(int, found.groups()), strict=True))

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pid in self.pids_or_none().values():
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)

    def pids_or_none(self) -> dict[str, int]:
        try:
            return self.pids()
        except AssertionError:
            return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose (its parent has not reaped it yet).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedded")


def test_make_run_serves_and_a_demo_reminder_fires_in_the_console_then_ctrl_c_stops_everything(var_dir):
    product = Product(var_dir)
    try:
        wait_for(lambda: "(pid " in product.output, timeout=400, what=lambda: f"start-up\n{product.output[-3000:]}")
        assert "demo / chain-recruit-demo" in product.output  # the demo login, printed
        pids = product.pids()
        wait_for(lambda: _answers(f"http://127.0.0.1:{product.port}/healthz"), timeout=60, what="the web server")
        assert requests.get(f"http://127.0.0.1:{product.port}/admin/login/", timeout=30).status_code == 200
        wait_for(
            lambda: "Demo: falls due" in product.output and "reminder sent (due)" in product.output,
            timeout=120,
            what=lambda: f"the demo reminder in the console\n{product.output[-3000:]}",
        )

        product.proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert product.proc.wait(timeout=60) == 0, product.output[-3000:]
        wait_for(lambda: not any(_alive(pid) for pid in pids.values()), timeout=10, what="children stopped")
    finally:
        product.close()


def test_a_child_that_dies_is_reported_and_the_others_are_stopped(var_dir):
    product = Product(var_dir)  # migrated and seeded already: a quick start
    try:
        wait_for(lambda: "(pid " in product.output, timeout=300, what=lambda: f"start-up\n{product.output[-3000:]}")
        pids = product.pids()
        time.sleep(3)
        os.killpg(pids["worker"], signal.SIGKILL)

        assert product.proc.wait(timeout=60) != 0
        assert re.search(r"^\*\*\* worker\b.*-9", product.output, re.MULTILINE), product.output[-3000:]
        wait_for(lambda: not any(_alive(pid) for pid in pids.values()), timeout=10, what="children stopped")
    finally:
        product.close()
