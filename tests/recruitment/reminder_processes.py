"""Real Celery workers, beats and Redis servers for the multi-process reminder tests.

The processes run the production settings (``config.settings``) against the test
database the test process uses, a Redis database of their own and Django's
file-based mail backend, so what they do is what the deployed stack does. Each
process gets its own process group: ``kill()`` sends SIGKILL to the worker and its
pool children at once, like the OOM killer or a pulled plug.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DELIVERY_HEADER = re.compile(r"^X-Chain-Recruit-Delivery: (\S+)$", re.MULTILINE)


def reminder_redis_url() -> str | None:
    """The Redis database these tests may empty: ``REMINDER_TEST_REDIS_DB`` (default 13) on TEST_REDIS_URL's server.

    Not TEST_REDIS_URL's own database: other tests may keep state there, and these
    tests flush theirs before and after.
    """
    base = os.environ.get("TEST_REDIS_URL")
    if not base:
        return None
    return base.rsplit("/", 1)[0] + "/" + os.environ.get("REMINDER_TEST_REDIS_DB", "13")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """Worker and beat processes sharing one environment; everything started is stopped at the end."""

    def __init__(self, tmp_path: Path, redis_url: str, **settings: object) -> None:
        self.tmp_path = tmp_path
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = tmp_path / "logs"
        self.log_dir.mkdir(exist_ok=True)
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "DATABASE_CONN_MAX_AGE": "0",
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "CHAIN_RECRUIT_VAR_DIR": str(tmp_path / "var"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in settings.items()},
        }
        self.env.pop("TEST_REDIS_URL", None)
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, list[Path]] = {}

    # --- processes ---------------------------------------------------------------------------
    def start(self, name: str, *args: str, module: tuple[str, ...] = ("celery", "-A", "config")) -> subprocess.Popen:
        logs = self._logs.setdefault(name, [])
        log = self.log_dir / f"{name}.{len(logs)}.log"
        logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", *module, *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = proc
        return proc

    def worker(self, name: str, concurrency: int = 2) -> subprocess.Popen:
        return self.start(
            name,
            "worker",
            "-l",
            "INFO",
            "-n",
            f"{name}@%h",
            "-c",
            str(concurrency),
            "--without-mingle",
            "--without-gossip",
        )

    def beat(self, name: str) -> subprocess.Popen:
        return self.start(name, "beat", "-l", "INFO", "--pidfile=", "-s", str(self.tmp_path / f"{name}-schedule"))

    def manage(self, *args: str) -> None:
        """Run a management command with the stack's environment (e.g. collectstatic, as the image build does)."""
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=300
        )

    def web(self, name: str, port: int) -> subprocess.Popen:
        """The web process as docker-compose runs it: gunicorn serving config.wsgi."""
        return self.start(
            name,
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "60",
            module=("gunicorn",),
        )

    def restart_exited(self, *names: str) -> list[str]:
        """Start again the named processes that have exited, as docker-compose's
        ``restart: unless-stopped`` does for the deployed stack; returns the names restarted."""
        restarted = []
        for name in names:
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is not None:
                if name.startswith("w"):
                    self.worker(name)
                elif name == "beat":
                    self.beat(name)
                else:
                    continue
                restarted.append(name)
        return restarted

    def kill(self, name: str) -> None:
        """SIGKILL the process and its pool children (its whole process group)."""
        proc = self.processes[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def stop(self, name: str, timeout: float = 15) -> None:
        proc = self.processes.pop(name)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def stop_all(self) -> None:
        """SIGTERM to everything at once (warm shutdowns overlap), then wait, then SIGKILL what is left."""
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        self.processes.clear()

    def logs(self, name: str | None = None) -> str:
        names = [name] if name else list(self._logs)
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-4000:] for n in names for p in self._logs.get(n, [])
        )

    # --- mail ------------------------------------------------------------------------------------
    def mails_by_delivery(self) -> Counter[str]:
        """How many e-mails the file backend wrote for each delivery id."""
        counts: Counter[str] = Counter()
        for pattern in ("*.log", "*.eml"):  # Django's file backend; the Message-ID mailbox
            for path in self.mail_dir.glob(pattern):
                counts.update(DELIVERY_HEADER.findall(path.read_text(errors="replace")))
        return counts

    def log_count(self, text: str) -> int:
        """How many times ``text`` appears in the logs of every process started."""
        return sum(p.read_text(errors="replace").count(text) for paths in self._logs.values() for p in paths)


def wait_for(
    condition: Callable[[], object], *, timeout: float, interval: float = 0.5, what: str | Callable[[], str] = ""
) -> object:
    """Poll ``condition`` until it is true; on timeout fail with ``what`` (a callable is asked then, for fresh logs)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {described or condition}")
        time.sleep(interval)


@contextmanager
def stack(tmp_path: Path, redis_url: str, **settings: object) -> Iterator[Stack]:
    s = Stack(tmp_path, redis_url, **settings)
    try:
        yield s
    finally:
        s.stop_all()


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


class RedisServer:
    """A redis-server of the test's own, on a free port, that the test may stop and start."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.answers, timeout=10, interval=0.1, what="redis-server to answer")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
