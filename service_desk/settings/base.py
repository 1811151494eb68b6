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
    "knowledge",
    "portal",
    "webhooks",
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

# --- REST API (issue 8) ---------------------------------------------------------
# Tokens first: an anonymous request is answered 401 with "WWW-Authenticate: Token".
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "service_desk.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "service_desk.api.pagination.KeysetPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON and multipart with a body size limit (service_desk/api/parsers.py); forms for the browser.
    "DEFAULT_PARSER_CLASSES": [
        "service_desk.api.parsers.JSONParser",
        "service_desk.api.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "service_desk.api.throttling.TokenRateThrottle",
        "service_desk.api.throttling.IPRateThrottle",
    ],
    # Fixed windows counted in the default cache (Redis): per token (or signed-in user) and per client IP.
    "DEFAULT_THROTTLE_RATES": {
        "token": env.str("API_THROTTLE_TOKEN_RATE", default="1200/minute"),
        "ip": env.str("API_THROTTLE_IP_RATE", default="2400/minute"),
    },
    # Reverse proxies in front that append to X-Forwarded-For (None: use REMOTE_ADDR).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT or None,
    "EXCEPTION_HANDLER": "service_desk.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "service_desk.api.schema.ApiAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_VERSIONING_CLASS": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]  # the API's schema and Swagger UI
SPECTACULAR_SETTINGS = {
    "TITLE": "Service Desk API",
    "DESCRIPTION": (
        "REST API for integrators. Authenticate with `Authorization: Token <token>` (personal tokens, created "
        "in the workspace under Preferences > API tokens or with `manage.py create_api_token`). Lists use "
        "cursor pagination (`cursor`, `page_size`); create operations accept `Idempotency-Key`; every error "
        'is `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TicketChannelEnum": "tickets.choices.TICKET_CHANNELS",
        "ChannelEnum": "tickets.choices.Channel",
        "TicketStatusEnum": "tickets.choices.Status",
        "TicketPriorityEnum": "tickets.choices.Priority",
    },
    "SECURITY": [{"Token": []}],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- CSAT and branding ---------------------------------------------------------
# Survey emails whose after-commit task never ran (broker down) are sent late, for two days.
CELERY_BEAT_SCHEDULE["send-pending-survey-emails"] = {
    "task": "tickets.tasks.send_pending_survey_emails_task",
    "schedule": 300.0,
}

# --- Portal tickets ------------------------------------------------------------
# ``portal_principal`` (lazy) for the portal's navigation: ticket links only for signed-in customers.
TEMPLATES[0]["OPTIONS"]["context_processors"].append("portal.context_processors.portal")

# --- Portal accounts: login throttling (django-axes), sign-up links ---------------------------------
# Failed logins are counted per username and client address together (the portal, /desk/login/ and
# /admin/ alike): after LOGIN_FAILURE_LIMIT failures that pair is refused for LOGIN_COOLOFF_MINUTES,
# counted from its last failure. Attempts during a lockout do not extend it, and a lockout never
# outlasts the cool-off, so a guesser is stopped but the real user is never locked out for good
# (and from any other address is not locked out at all). Records live in the database
# (AccessAttempt, visible in the admin), so they hold across processes and restarts.
from datetime import timedelta  # noqa: E402

INSTALLED_APPS += ["axes"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any password check
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # turns a lockout into the 429 page
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "portal.views.auth.client_ip_for_axes"  # TRUSTED_PROXY_COUNT, as the web form
AXES_LOCKOUT_CALLABLE = "portal.views.auth.lockout_response"
AXES_VERBOSE = False
# A sign-up's verification link works this long (seconds).
PORTAL_SIGNUP_LINK_MAX_AGE = env.int("PORTAL_SIGNUP_LINK_MAX_AGE", default=2 * 24 * 3600)
# Account mails (verification, "you already have an account", password reset) per address and hour.
PORTAL_ACCOUNT_MAILS_PER_HOUR = env.int("PORTAL_ACCOUNT_MAILS_PER_HOUR", default=5)
# Account mails are sent by portal.tasks (never inside the request: no enumeration by timing).
CELERY_TASK_ROUTES["portal.tasks.*"] = {"queue": "outbound"}

# --- Webhooks ------------------------------------------------------------------
# SSRF exceptions: host names (exact, or ".example.com" for a domain and its subdomains) and
# networks (CIDR) whose private, loopback or link-local addresses webhooks may still call.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_ALLOWED_NETWORKS = env.list("WEBHOOK_ALLOWED_NETWORKS", default=[])
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=False)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
WEBHOOK_MAX_REDIRECTS = env.int("WEBHOOK_MAX_REDIRECTS", default=3)
# CA certificates (PEM file) that https receivers must chain to; empty: the system's trust store.
WEBHOOK_CA_BUNDLE = env.str("WEBHOOK_CA_BUNDLE", default="")
# A delivery is failed for good after this many attempts (retries after 30 s, 2 min, 10 min, 1 h, 6 h, 12 h...).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
# Delivered and failed rows are deleted after this many days (0 keeps them).
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
CELERY_TASK_ROUTES["webhooks.tasks.*"] = {"queue": "webhooks"}
WORKER_QUEUES = [*WORKER_QUEUES, "webhooks"]
# Deliveries whose retry fell due, or whose task never reached a worker (broker down), are queued.
CELERY_BEAT_SCHEDULE["requeue-due-webhook-deliveries"] = {
    "task": "webhooks.tasks.requeue_due_webhook_deliveries_task",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["prune-webhook-deliveries"] = {
    "task": "webhooks.tasks.prune_webhook_deliveries_task",
    "schedule": 24 * 3600.0,
}
# One name per choice set in the API schema (drf-spectacular warns about collisions otherwise).
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["WebhookEventTypeEnum"] = "webhooks.domain.events.ALL_EVENTS"
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["WebhookDeliveryStatusEnum"] = "webhooks.models.DeliveryStatus"

# --- Idempotency records (API Idempotency-Key, portal form nonces) ------------------------------------
# A retry with the same key within this many hours gets the first answer; older records are pruned.
IDEMPOTENCY_RETENTION_HOURS = env.int("IDEMPOTENCY_RETENTION_HOURS", default=24)
CELERY_BEAT_SCHEDULE["prune-idempotency-records"] = {
    "task": "service_desk.tasks.prune_idempotency_records_task",
    "schedule": 3600.0,
}
