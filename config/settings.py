"""Settings for Chain Recruit, read from the environment.

Production differs from development only by environment variables. With
``DJANGO_DEBUG`` unset or false the process refuses to start without a real
``DJANGO_SECRET_KEY``. With ``DATABASE_URL`` unset the database is a SQLite file;
with ``REDIS_URL`` unset Celery uses an embedded file-system broker that needs no
server, so ``make run`` works on a machine with nothing but Python.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CHAIN_RECRUIT_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)

_INSECURE_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Production settings need a real secret key "
            "(50+ random characters); set DJANGO_DEBUG=1 for local development."
        )
    SECRET_KEY = _INSECURE_KEY
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is too weak for production: use at least 50 random characters.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "crm.admin_site.ChainRecruitAdminConfig",  # django.contrib.admin, its app list sorted by plain text
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "django_celery_beat",
    "simple_history",
    "import_export",
    "axes",
    "csp",
    "chains.apps.ChainsConfig",
    "crm.apps.CrmConfig",
    "recruitment.apps.RecruitmentConfig",
    "ledger.apps.LedgerConfig",
    "api.apps.ApiConfig",
    "push.apps.PushConfig",
    "seeds.apps.SeedsConfig",
    "operations.apps.OperationsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads a body: API bodies over API_MAX_BODY_BYTES are refused unread.
    "api.body_limit.ApiBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # AxesMiddleware must be last: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
_DATABASE_URL = env_str("DATABASE_URL")
if _DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            _DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Session settings sent when connecting. JIT compilation is off by default: this is
        # short OLTP work, and on a table whose statistics lag (right after a bulk load) the
        # planner's cost estimate crosses jit_above_cost and a 5 ms query spends 30-40 ms
        # compiling. Parallel workers cost ten times the default to start: a query that reads
        # a page of rows (a search stopping at its first matches) gained nothing from them
        # and lost 10-20 ms starting them on a busy server; a report over whole tables
        # still gets them. Empty to send nothing (e.g. behind a pooler that refuses
        # start-up options).
        _PG_OPTIONS = env_str("DATABASE_PG_OPTIONS", "-c jit=off -c parallel_setup_cost=10000")
        if _PG_OPTIONS:
            DATABASES["default"].setdefault("OPTIONS", {})["options"] = _PG_OPTIONS
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "chain_recruit.sqlite3",
            # Web, worker and beat share the file: wait for the write lock instead of failing.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }
# SQLite keeps an index on its key columns and drops the extra columns a covering index
# names for PostgreSQL (project_park_listed_idx): what the index is there for on SQLite.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files: served by the app itself, never from a CDN ------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Cache ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
    }
}

# --- E-mail -----------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chain-recruit@localhost")

# --- Celery -------------------------------------------------------------------------
# Without REDIS_URL the broker is kombu's file-system transport: messages are files
# under var/broker, shared by web, worker and beat on one machine, no server needed.
# Nothing relies on the broker keeping a message: reminders live in the database and
# a lost message is re-queued by the sweep (see recruitment/reminders.py).
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "visibility_timeout": 3600,
        # Fail fast when Redis is down instead of hanging a scan or a readiness probe.
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
    }
else:
    _BROKER_DIR = VAR_DIR / "broker"
    (_BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR),
        "data_folder_out": str(_BROKER_DIR),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        # Exchange tables beside the messages, not in the working directory.
        "control_folder": str(_BROKER_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's database scheduler, seeded from the one schedule in config/celery.py.
CELERY_BEAT_SCHEDULER = "config.celery:ScheduleFromCode"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}

# --- Recruitment service levels and reminders (periods in hours) ------------------
RECRUITMENT_SLA_RESPOND_HOURS = env_float("RECRUITMENT_SLA_RESPOND_HOURS", 24)
RECRUITMENT_SLA_ASSESS_HOURS = env_float("RECRUITMENT_SLA_ASSESS_HOURS", 72)
RECRUITMENT_SLA_FEEDBACK_HOURS = env_float("RECRUITMENT_SLA_FEEDBACK_HOURS", 168)
RECRUITMENT_SLA_REPORT_HOURS = env_float("RECRUITMENT_SLA_REPORT_HOURS", 336)
# Planned investment (CNY) above which the provincial office is notified: 5亿元.
RECRUITMENT_LARGE_PROJECT_CNY = env_int("RECRUITMENT_LARGE_PROJECT_CNY", 500_000_000)
RECRUITMENT_OVERDUE_AFTER_HOURS = env_float("RECRUITMENT_OVERDUE_AFTER_HOURS", 24)
RECRUITMENT_STALE_AFTER_DAYS = env_int("RECRUITMENT_STALE_AFTER_DAYS", 30)
# The dashboard's pipeline tally (PostgreSQL) is folded to one row per key this often.
PIPELINE_TALLY_COMPACT_SECONDS = env_int("PIPELINE_TALLY_COMPACT_SECONDS", 600)
# Schedules (REMINDER_*_SECONDS, REMINDER_DIGEST_CRONTAB) seed beat's periodic tasks when
# they are first created; afterwards they are edited in the admin (Periodic tasks).
REMINDER_SCAN_SECONDS = env_int("REMINDER_SCAN_SECONDS", 60)
REMINDER_SWEEP_SECONDS = env_int("REMINDER_SWEEP_SECONDS", 300)
REMINDER_DIGEST_CRONTAB = env_str("REMINDER_DIGEST_CRONTAB", "0 8 * * 1")  # Mondays 08:00, TIME_ZONE
# A queued reminder not sent after this long is queued again (its message was lost).
REMINDER_REQUEUE_AFTER_SECONDS = env_int("REMINDER_REQUEUE_AFTER_SECONDS", 600)
# A worker holds a reminder this long while sending; after that another may take it.
REMINDER_LEASE_SECONDS = env_int("REMINDER_LEASE_SECONDS", 300)
REMINDER_SEND_TIMEOUT_SECONDS = env_int("REMINDER_SEND_TIMEOUT_SECONDS", 30)
REMINDER_MAX_ATTEMPTS = env_int("REMINDER_MAX_ATTEMPTS", 5)
REMINDER_RETRY_BACKOFF_SECONDS = env_int("REMINDER_RETRY_BACKOFF_SECONDS", 60)  # doubled per attempt
REMINDER_SCAN_BATCH = env_int("REMINDER_SCAN_BATCH", 500)
# Landing supervision (督办): an automatic order's deadlines, the escalation ladder's offsets,
# and the nightly recompute of lights (crontab, TIME_ZONE).
SUPERVISION_PLAN_DAYS = env_int("SUPERVISION_PLAN_DAYS", 7)
SUPERVISION_RESOLVE_DAYS = env_int("SUPERVISION_RESOLVE_DAYS", 30)
SUPERVISION_REMIND_BEFORE_PLAN_HOURS = env_float("SUPERVISION_REMIND_BEFORE_PLAN_HOURS", 48)
SUPERVISION_ESCALATE_AFTER_PLAN_HOURS = env_float("SUPERVISION_ESCALATE_AFTER_PLAN_HOURS", 0)
SUPERVISION_ESCALATE_AFTER_RESOLVE_HOURS = env_float("SUPERVISION_ESCALATE_AFTER_RESOLVE_HOURS", 0)
LIGHTS_RECOMPUTE_CRONTAB = env_str("LIGHTS_RECOMPUTE_CRONTAB", "30 1 * * *")

# --- Imports --------------------------------------------------------------------------
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 100_000)  # data rows of one file
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)  # the file as uploaded

# --- REST API -------------------------------------------------------------------------
# A body above this many bytes answers 413 unread (chunked bodies: read up to it, then refused).
# A bulk of 1000 projects with every field at its longest and a 2,000-character Chinese
# description is 7.2 MB (13.5 MB with every character \u-escaped); see README "Limits".
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 16 * 1024 * 1024)
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_standardized_errors.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["api.rendering.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.rendering.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.rendering.ContentNegotiation",
    "DEFAULT_FILTER_BACKENDS": ["api.filters.FilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.authentication.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    # OPTIONS answers 405: the OpenAPI schema is the description of every endpoint.
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chain Recruit API",
    "DESCRIPTION": "Partner API v1 of the Chain Recruit enterprise-recruitment CRM.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_links",
        "api.schema.strict_request_bodies",
        "api.schema.server_refusals",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ProjectStatusEnum": "recruitment.pipeline.Status",
        "FollowUpStatusEnum": "recruitment.models.FollowUp.Status",
        "FollowUpKindEnum": "recruitment.models.FollowUp.Kind",
        "InteractionKindEnum": "crm.models.Interaction.Kind",
        "GapStatusEnum": "chains.gap_analysis.GapStatus",
        "ErrorTypeEnum": "api.errors.ERROR_TYPES",
        "ChangeTypeEnum": "api.feed.CHANGE_TYPES",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum",
        "ProgressKindEnum": "recruitment.landing_models.ProgressEntry.Kind",
        "SupervisionOrderStatusEnum": "recruitment.landing_models.OrderStatus",
        "MilestoneEnum": "recruitment.landing_models.Milestone",
        "LightColorEnum": "recruitment.landing_models.Color",
    },
}
DRF_STANDARDIZED_ERRORS = {
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": False,
    "EXCEPTION_HANDLER_CLASS": "api.errors.ApiExceptionHandler",
    # One documented shape for every 400: field paths carry bulk item indexes.
    "ERROR_SCHEMAS": {"400": "api.errors.ErrorResponseSerializer"},
}
API_THROTTLE_RATE = env_str("API_THROTTLE_RATE", "600/min")

# Admin change lists count rows exactly up to this many; past it they show the
# planner's estimate, with the exact count on demand (crm.admin_lists).
ADMIN_EXACT_COUNT_LIMIT = env_int("ADMIN_EXACT_COUNT_LIMIT", 10_000)
# Per-key request counts live in Redis when there is one (shared by every web process).
# Only a courtesy: short timeouts, and the API keeps answering when it is down.
if REDIS_URL:
    CACHES["api_throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("API_THROTTLE_REDIS_URL", REDIS_URL),
        "KEY_PREFIX": "api",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
    API_THROTTLE_CACHE = "api_throttle"
else:
    API_THROTTLE_CACHE = "default"
# Deletions stay in the change feed this many days (at least 90).
API_CHANGE_FEED_RETENTION_DAYS = env_int("API_CHANGE_FEED_RETENTION_DAYS", 90)

# --- Push: webhooks and robot channels -------------------------------------------------
# Outbound requests (webhooks, WeCom/DingTalk robots) never reach private, loopback,
# link-local or metadata addresses, and use https, unless the address is in one of
# these networks (comma-separated addresses or CIDR ranges, e.g. "10.1.0.0/16,127.0.0.1").
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
# Secrets the app must use (webhook signing secrets, robot secrets) are sealed at rest
# (Fernet) with keys derived from these passphrases; the first seals, all open (rotation).
# Unset: derived from DJANGO_SECRET_KEY.
SEALING_KEYS = env_list("SEALING_KEYS", []) or [SECRET_KEY]
WEBHOOK_DISPATCH_SECONDS = env_int("WEBHOOK_DISPATCH_SECONDS", 1)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10)
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 60)
WEBHOOK_TASK_BUDGET_SECONDS = env_int("WEBHOOK_TASK_BUDGET_SECONDS", 20)
WEBHOOK_DISABLE_AFTER_DAYS = env_int("WEBHOOK_DISABLE_AFTER_DAYS", 5)
WEBHOOK_LOG_RETENTION_DAYS = env_int("WEBHOOK_LOG_RETENTION_DAYS", 30)
WEBHOOK_SECRET_GRACE_HOURS = env_int("WEBHOOK_SECRET_GRACE_HOURS", 24)
# A committed change wakes its endpoints' deliveries at once (the scan above is the safety net):
# at most one wake-up per endpoint per this many seconds and process, and none for this long
# after the broker failed to take one.
WEBHOOK_WAKE_ON_COMMIT = env_bool("WEBHOOK_WAKE_ON_COMMIT", True)
WEBHOOK_WAKE_DEBOUNCE_SECONDS = env_float("WEBHOOK_WAKE_DEBOUNCE_SECONDS", 0.25)
WEBHOOK_WAKE_PAUSE_SECONDS = env_float("WEBHOOK_WAKE_PAUSE_SECONDS", 30)

# --- Brute-force protection for the admin login -------------------------------------
# Two locks, each for AXES_COOLOFF_HOURS: a user name tried from one address
# (AXES_FAILURE_LIMIT failures), and one address trying any user names
# (AXES_IP_FAILURE_LIMIT failures in all: password spraying). The second limit is
# higher so that an office behind one NAT address is not locked out by a few typos.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_IP_FAILURE_LIMIT = env_int("AXES_IP_FAILURE_LIMIT", 20)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_HOURS", 1)
# The order matters: config.login_lockout reads the second set as the per-address one.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "config.login_lockout.LoginLockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"

# History is a record of what happened; restoring an old version is done as a new change.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Security (production) --------------------------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp) on every response, in development too, so that
# an inline script is caught where it is written. Scripts only from our own static
# files (Django admin needs nothing else); styles may be inline (admin and the report
# bars set style attributes); nothing from another origin: every asset is served here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (django-permissions-policy): no page of ours uses these browser features.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "accelerometer": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "magnetometer": [],
    "microphone": [],
    "payment": [],
    "usb": [],
}
# --- Monthly ledger (月报台账), evidence files, assessment ------------------------------
# The monthly ledger of a month is due on this day of the next month.
LEDGER_DEADLINE_DAY = env_int("LEDGER_DEADLINE_DAY", 5)
# A reminder goes to the park offices that have not submitted this many days before the deadline.
LEDGER_REMINDER_DAYS_BEFORE = env_int("LEDGER_REMINDER_DAYS_BEFORE", 2)
# When the deadline reminder runs (cron, TIME_ZONE); it records each office's reminder once per deadline.
LEDGER_REMINDER_CRONTAB = env_str("LEDGER_REMINDER_CRONTAB", "0 9 * * *")
# The province whose enterprises are "in province"; others are out of province (省外).
LEDGER_HOME_PROVINCE = env_str("LEDGER_HOME_PROVINCE", "山西省")
# A "large" new signing for the assessment (1亿元).
LEDGER_LARGE_PROJECT_YUAN = env_int("LEDGER_LARGE_PROJECT_YUAN", 100_000_000)
# TrueType fonts with Chinese glyphs for the ledger's PDF, first found wins (Debian: fonts-wqy-microhei).
LEDGER_PDF_FONTS = env_list(
    "LEDGER_PDF_FONTS",
    ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"],
)
MEDIA_ROOT = env_str("MEDIA_ROOT", str(VAR_DIR / "media"))
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024)
EVIDENCE_CONTENT_TYPES = env_list("EVIDENCE_CONTENT_TYPES", ["application/pdf", "image/jpeg", "image/png"])
# Evidence files in an S3-compatible store (MinIO) when a bucket is named; the local file system otherwise.
if env_str("EVIDENCE_S3_BUCKET"):
    STORAGES["evidence"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("EVIDENCE_S3_BUCKET"),
            "endpoint_url": env_str("EVIDENCE_S3_ENDPOINT_URL") or None,
            "access_key": env_str("EVIDENCE_S3_ACCESS_KEY") or None,
            "secret_key": env_str("EVIDENCE_S3_SECRET_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
        },
    }

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
