"""Test settings: the production settings with a test key, fast hashing and in-memory mail.

The database is the one ``DATABASE_URL`` names. When it is unset and PostgreSQL
answers on 127.0.0.1:5432 (the CI machine and most developers' machines), the suite
uses it; otherwise SQLite, and the tests marked ``postgres`` skip with a reason.
"""

import os
import socket


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


os.environ.setdefault("DJANGO_SECRET_KEY", "test-" + "x" * 60)
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
# Fake receivers and robots listen on 127.0.0.1.
os.environ.setdefault("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1")
if "DATABASE_URL" not in os.environ and _answers("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/chain_recruit"
# Tests that need Redis find it through TEST_REDIS_URL; the app itself keeps the
# embedded broker unless REDIS_URL is set.
if "TEST_REDIS_URL" not in os.environ and _answers("127.0.0.1", 6379):
    os.environ["TEST_REDIS_URL"] = "redis://127.0.0.1:6379/15"

from config.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
# Nothing is collected for a test run, so there is no STATIC_ROOT for WhiteNoise to
# index (it would warn "No directory at …" for every test client). As in development,
# it finds static files in the apps when asked instead, which costs nothing at start-up.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# A second, in-memory SQLite database for the tests that hold both databases to the
# same results (search); set up only for the tests that ask for it.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["sqlite"] = {  # noqa: F405
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "TEST": {"NAME": ":memory:"},
    }
