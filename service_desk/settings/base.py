"""Settings shared by every environment. Every value can come from the environment (12-factor).

With nothing set, the embedded default needs no server: a SQLite file under var/ and
Celery on kombu's filesystem transport (a real worker and beat still run).
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("SERVICE_DESK_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

INSECURE_DEFAULT_SECRET_KEY = "insecure-dev-key-change-me"  # noqa: S105 - refused by production settings
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_filters",
    "rest_framework",
    "service_desk",
    "accounts",
    "tickets",
    "channels_intake",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.PreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "service_desk.urls"
WSGI_APPLICATION = "service_desk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "service_desk.context_processors.desk",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# DATABASE_URL=postgres://user:pass@host:5432/name for production; SQLite under var/ by default.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the web process and the worker write side by side.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # PostgreSQL's JIT compiler adds 1-2 s to the dashboard's aggregates and saves nothing on the
        # short queries of a ticket desk.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
# Redis redelivers an unacknowledged task after this long: longer than the longest task (time limit 300 s).
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = "default"
# Separate queues so a flood of intake never delays outgoing replies or timers.
CELERY_TASK_ROUTES = {
    # SLA timers have their own queue: a burst of event publishing never delays an escalation.
    "tickets.tasks.sla_*": {"queue": "sla"},
    "tickets.tasks.send_notification_emails_task": {"queue": "sla"},
    # Bulk jobs of the workspace: long, but nothing waits on them more urgently than on other desk work.
    "tickets.tasks.bulk_job_run_task": {"queue": "default"},
    "tickets.tasks.requeue_stalled_bulk_jobs_task": {"queue": "default"},
    "tickets.tasks.*": {"queue": "default"},
    "channels_intake.tasks.process_inbound_task": {"queue": "intake"},
    "channels_intake.tasks.poll_*": {"queue": "intake"},
    "channels_intake.tasks.requeue_stranded_inbound_task": {"queue": "intake"},
    "channels_intake.tasks.requeue_queued_replies_task": {"queue": "outbound"},
    "channels_intake.tasks.send_*": {"queue": "outbound"},
}
# The queues every worker of this deployment consumes (rundesk, docker-compose).
WORKER_QUEUES = ["default", "intake", "outbound", "sla"]

CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The beat schedule is code, reviewed like code.
CELERY_BEAT_SCHEDULE = {
    # Catch-up for domain events whose on-commit dispatch never reached a worker (broker down).
    "publish-pending-ticket-events": {
        "task": "tickets.tasks.publish_ticket_events_task",
        "schedule": 30.0,
    },
    # SLA escalations fall due continuously: sweep often so each fires within 60 s of its moment. A sweep
    # queued while the workers were down expires; the first one after a restart catches up in due order.
    "sla-sweep": {"task": "tickets.tasks.sla_sweep_task", "schedule": 15.0, "options": {"expires": 60}},
    # Notification emails whose after-commit task never ran (broker down, worker killed).
    "sla-notification-emails": {"task": "tickets.tasks.send_notification_emails_task", "schedule": 60.0},
    "poll-mailboxes": {"task": "channels_intake.tasks.poll_mailboxes_task", "schedule": 60.0},
    # Stored messages whose processing task was lost (killed worker, emptied broker) are re-queued.
    "requeue-stranded-inbound": {"task": "channels_intake.tasks.requeue_stranded_inbound_task", "schedule": 120.0},
    # Agent replies whose sending task was lost (broker down at the time) are queued again.
    "requeue-queued-replies": {"task": "channels_intake.tasks.requeue_queued_replies_task", "schedule": 120.0},
    # Bulk jobs whose task was lost are given another one; a run continues after the last committed ticket.
    "requeue-stalled-bulk-jobs": {"task": "tickets.tasks.requeue_stalled_bulk_jobs_task", "schedule": 300.0},
}
CELERY_TIMEZONE = "UTC"

# --- Auth, i18n, static -------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "desk:login"
LOGIN_REDIRECT_URL = "desk:home"
LOGOUT_REDIRECT_URL = "desk:login"
LOCALE_PATHS = [BASE_DIR / "locale"]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Email --------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587, +tls) or the individual EMAIL_* settings.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
    EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Service Desk <support@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Product ------------------------------------------------------------------
SERVICE_DESK_NAME = env.str("SERVICE_DESK_NAME", default="Service Desk")
# Tickets are referred to as "<prefix>-<number>", for example SD-1042.
TICKET_REFERENCE_PREFIX = env.str("TICKET_REFERENCE_PREFIX", default="SD")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# Domain of the Message-IDs we generate; empty takes the domain of DEFAULT_FROM_EMAIL.
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="")

# --- Intake -------------------------------------------------------------------
INTAKE_MAX_RAW_BYTES = env.int("INTAKE_MAX_RAW_BYTES", default=50 * 1024 * 1024)
WEB_FORM_PER_IP_PER_HOUR = env.int("WEB_FORM_PER_IP_PER_HOUR", default=20)
WEB_FORM_PER_ADDRESS_PER_HOUR = env.int("WEB_FORM_PER_ADDRESS_PER_HOUR", default=5)
ACKNOWLEDGEMENTS_PER_HOUR = env.int("ACKNOWLEDGEMENTS_PER_HOUR", default=3)
# Reverse proxies in front of the web server that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# A stored message whose processing was started this often without finishing (a worker killed by
# a time limit or memory) is quarantined instead of being retried forever.
INTAKE_MAX_ATTEMPTS = env.int("INTAKE_MAX_ATTEMPTS", default=5)
# A worker claims this many waiting messages at once (fewer once their raw bytes pass the second).
INTAKE_BATCH_SIZE = env.int("INTAKE_BATCH_SIZE", default=100)
INTAKE_BATCH_BYTES = env.int("INTAKE_BATCH_BYTES", default=8 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
