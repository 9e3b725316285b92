"""Cualify settings: one module, read from the environment (django-environ).

Every setting that an operator may change is an environment variable listed in the README.
Local runs need none of them: an embedded SQLite file, the ORM queue broker and a generated
development secret kept under ``CUALIFY_DATA_DIR``. ``CUALIFY_ENV=production`` refuses to
start without a secret and allowed hosts and turns on the deployment settings.
"""
import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core import limits as _limits
from core.devices import check_device_choice as _check_device_choice

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Model libraries run offline by construction (no hub checks, font or package downloads);
# set here so every process (web, qcluster, commands, tests) gets the same.
for _name, _value in {
    "YOLO_OFFLINE": "true", "YOLO_AUTOINSTALL": "false", "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1", "ORT_DISABLE_TELEMETRY": "1",
}.items():
    os.environ.setdefault(_name, _value)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

CUALIFY_ENV = env.str("CUALIFY_ENV", default="local")
if CUALIFY_ENV not in {"local", "production"}:
    raise ImproperlyConfigured(f"CUALIFY_ENV must be 'local' or 'production', not {CUALIFY_ENV!r}")
PRODUCTION = CUALIFY_ENV == "production"

# Everything a local run writes (SQLite file, media, collected static, dev secret) lives here.
DATA_DIR = Path(env.str("CUALIFY_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()


def _development_secret() -> str:
    """A secret generated once per data dir and kept, so sessions survive restarts."""
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(50))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return path.read_text().strip()


# Writable folder for model libraries' own config (Ultralytics settings and its font).
CUALIFY_MODEL_CONFIG_DIR = Path(
    env.str("YOLO_CONFIG_DIR", default=str(Path.home() / ".cache" / "cualify" / "ultralytics"))
).resolve()
os.environ.setdefault("YOLO_CONFIG_DIR", str(CUALIFY_MODEL_CONFIG_DIR))

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if PRODUCTION:
    if not SECRET_KEY:
        raise ImproperlyConfigured("CUALIFY_ENV=production needs SECRET_KEY in the environment.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("CUALIFY_ENV=production needs ALLOWED_HOSTS in the environment.")
else:
    SECRET_KEY = SECRET_KEY or _development_secret()
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_q",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "motifs",
    "inference",
    # accounts last: its post_migrate hook gives the Curator group the permissions of the
    # apps above, which must exist by then.
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cualify.urls"
WSGI_APPLICATION = "cualify.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.site",
                "accounts.context_processors.roles",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES', innodb_strict_mode=1",
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    if _db["NAME"] != ":memory:":
        Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web + queue worker) write to one SQLite file: wait for locks.
    _db.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    if env.str("CUALIFY_TEST_DB_FILE", default=""):
        # Tests that start a subprocess (server, worker) need a test database it can open.
        _db["TEST"] = {"NAME": env.str("CUALIFY_TEST_DB_FILE")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Queue (django-q2) -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Two clusters (django-q2's own ALT_CLUSTERS), so that quick work never waits behind slow work:
# "classify" (the default cluster: classification and saliency, short timeouts; it also runs the
# schedules) and "generate" (generation jobs with projection and refinement, long timeouts). A
# `qcluster` started with Q_CLUSTER_NAME=generate is a generate cluster; inference/queues.py
# sends each task to its cluster. CUALIFY_QUEUE_WORKERS, when set, sizes both.
_QUEUE_WORKERS = env.int("CUALIFY_QUEUE_WORKERS", default=0)
_CLASSIFY_TIMEOUT = env.int("CUALIFY_CLASSIFY_TIMEOUT", default=120)
_GENERATE_TIMEOUT = env.int("CUALIFY_TASK_TIMEOUT", default=1800)
Q_CLUSTER = {
    "name": "classify",
    "workers": env.int("CUALIFY_CLASSIFY_WORKERS", default=_QUEUE_WORKERS or max(1, (os.cpu_count() or 1) // 2)),
    "timeout": _CLASSIFY_TIMEOUT,
    "retry": _CLASSIFY_TIMEOUT + 60,
    "max_attempts": 3,
    "catch_up": False,
    # The record row is the result; keeping successful task rows too would only add writes.
    "save_limit": env.int("CUALIFY_QUEUE_SAVE_LIMIT", default=-1),
    "label": "Queue",
    "sync": env.bool("CUALIFY_QUEUE_SYNC", default=False),
    # How often an idle worker asks the ORM broker for work: the floor of queue latency.
    "poll": env.float("CUALIFY_QUEUE_POLL", default=0.05),
    "ALT_CLUSTERS": {
        "generate": {
            "workers": env.int("CUALIFY_GENERATE_WORKERS", default=_QUEUE_WORKERS or max(1, (os.cpu_count() or 1) // 2)),
            "timeout": _GENERATE_TIMEOUT,
            "retry": _GENERATE_TIMEOUT + 60,
        },
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # One cache for every process (rate limit and API throttle counts must not be per worker).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "cualify"}}
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Log-in brute-force protection (django-axes): this many failures for one user name from one
# address lock that pair out for CUALIFY_LOGIN_LOCKOUT_MINUTES (the admin log-in included).
AXES_FAILURE_LIMIT = env.int("CUALIFY_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("CUALIFY_LOGIN_LOCKOUT_MINUTES", default=15.0))
# The pair, not the address alone: visitors behind one museum or campus NAT do not lock each
# other out, and nobody can lock a user out from everywhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.security.lockout_response"  # our translated page, as 429
# Successful log-ins are not recorded (address, browser): only failures, while they count.
AXES_DISABLE_ACCESS_LOG = True
# Reverse proxies in front of the site that append to X-Forwarded-For (production: the one that
# terminates HTTPS). The client's address is the entry the outermost of them added; without
# this every log-in would come from the proxy's address.
CUALIFY_PROXY_COUNT = env.int("CUALIFY_PROXY_COUNT", default=1 if PRODUCTION else 0)
AXES_CLIENT_IP_CALLABLE = "core.security.client_ip"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounts:profile"
LOGOUT_REDIRECT_URL = "home"
# Password-reset mail: EMAIL_URL (django-environ's form, e.g. smtp+tls://user:pass@smtp.example:587)
# sets the backend, host, port, user, password and TLS at once; without it EMAIL_BACKEND
# (default: the console, for local runs).
if env.str("EMAIL_URL", default=""):
    globals().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Cualify <noreply@localhost>")

# --- Languages -------------------------------------------------------------------------------
LANGUAGE_CODE = "id"
LANGUAGES = [("id", _("Indonesian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "cualify_language"
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Jakarta")
USE_I18N = True
USE_TZ = True

# --- Static and media ------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media"))).resolve()
# Local runs serve media from Django; in production the web server or object storage does.
SERVE_MEDIA = env.bool("CUALIFY_SERVE_MEDIA", default=not PRODUCTION)
# Media (archive images, uploads, results, model files): the local MEDIA_ROOT, or an S3 bucket
# (django-storages) so that web and workers need no shared disk; workers then keep model files
# in their own cache (inference/model_cache.py). Backup/restore needs the local file system.
CUALIFY_MEDIA_STORAGE = env.str("CUALIFY_MEDIA_STORAGE", default="local")
if CUALIFY_MEDIA_STORAGE == "local":
    _MEDIA_BACKEND = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif CUALIFY_MEDIA_STORAGE == "s3":
    _MEDIA_BACKEND = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": env.str("CUALIFY_S3_BUCKET"),
        "endpoint_url": env.str("CUALIFY_S3_ENDPOINT_URL", default="") or None,
        "region_name": env.str("CUALIFY_S3_REGION", default="") or None,
        "access_key": env.str("CUALIFY_S3_ACCESS_KEY_ID", default="") or None,
        "secret_key": env.str("CUALIFY_S3_SECRET_ACCESS_KEY", default="") or None,
        "location": env.str("CUALIFY_S3_PREFIX", default=""),
        # Private objects, never overwritten (names are content hashes); the site serves them.
        "default_acl": "private", "querystring_auth": True, "file_overwrite": False,
    }}
else:
    raise ImproperlyConfigured(f"CUALIFY_MEDIA_STORAGE must be 'local' or 's3', not {CUALIFY_MEDIA_STORAGE!r}")
STORAGES = {
    "default": _MEDIA_BACKEND,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production serve straight from the source folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- Image limits (core.limits holds the defaults; core.intake applies them at every door) ----
# Bytes of one uploaded or imported image file.
CUALIFY_MAX_IMAGE_BYTES = env.int("CUALIFY_MAX_IMAGE_BYTES", default=_limits.MAX_IMAGE_BYTES)
# Pixels (width × height) of one image; larger ones are refused as decompression bombs.
CUALIFY_MAX_IMAGE_PIXELS = env.int("CUALIFY_MAX_IMAGE_PIXELS", default=_limits.MAX_IMAGE_PIXELS)
# Long side ÷ short side, and the short side in pixels: a 1 × 60000 strip has few pixels but
# would be scaled to 64 × 3,840,000 by a model.
CUALIFY_MAX_IMAGE_ASPECT = env.float("CUALIFY_MAX_IMAGE_ASPECT", default=_limits.MAX_IMAGE_ASPECT)
CUALIFY_MIN_IMAGE_SIDE = env.int("CUALIFY_MIN_IMAGE_SIDE", default=_limits.MIN_IMAGE_SIDE)
DATA_UPLOAD_MAX_MEMORY_SIZE = CUALIFY_MAX_IMAGE_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Each uploaded file is kept only up to one byte over CUALIFY_MAX_IMAGE_BYTES: a bigger one
# is refused as too large by every door and never fills memory or the temporary folder.
FILE_UPLOAD_HANDLERS = [
    "core.uploads.UploadSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Pillow's own decompression-bomb guard agrees with ours in every process (web, workers,
# commands), also where an image is opened outside the intake rules.
from PIL import Image as _PILImage  # noqa: E402

_PILImage.MAX_IMAGE_PIXELS = CUALIFY_MAX_IMAGE_PIXELS
CUALIFY_GALLERY_PAGE_SIZE = env.int("CUALIFY_GALLERY_PAGE_SIZE", default=12)

# --- Models and classification ---------------------------------------------------------------
# Seconds the web waits for a classification before answering with a page that polls.
CUALIFY_CLASSIFY_WAIT_SECONDS = env.float("CUALIFY_CLASSIFY_WAIT_SECONDS", default=10.0)
# Seconds the Flask-compatible service (compat.app) waits before answering /predict with 503.
CUALIFY_COMPAT_PREDICT_WAIT_SECONDS = env.float("CUALIFY_COMPAT_PREDICT_WAIT_SECONDS", default=30.0)
# Serve registered classifiers through their ONNX export (checked to agree with the .pt).
CUALIFY_SERVE_ONNX = env.bool("CUALIFY_SERVE_ONNX", default=True)
# A classification's lease: a worker must claim (and finish) it within this many seconds, or the
# sweeper (every worker's heartbeat, and any read of the record) sends it again; one sent
# CUALIFY_CLASSIFY_MAX_ATTEMPTS times fails as lost, with a message, instead of waiting for ever.
CUALIFY_CLASSIFY_LEASE_SECONDS = env.float("CUALIFY_CLASSIFY_LEASE_SECONDS", default=15.0)
CUALIFY_CLASSIFY_MAX_ATTEMPTS = env.int("CUALIFY_CLASSIFY_MAX_ATTEMPTS", default=2)
# A heat-map (saliency) request older than this without an answer may be asked again.
CUALIFY_CLASSIFY_STALE_SECONDS = env.float("CUALIFY_CLASSIFY_STALE_SECONDS", default=300.0)
# Torch threads per queue worker (one worker per core is the default cluster shape).
CUALIFY_TORCH_THREADS = env.int("CUALIFY_TORCH_THREADS", default=1)
# Where queue workers and training run models: auto (CUDA when there, else the CPU), cpu or cuda[:N].
try:
    CUALIFY_DEVICE = _check_device_choice(env.str("CUALIFY_DEVICE", default="auto"))
except ValueError as _error:
    raise ImproperlyConfigured(str(_error)) from None
# Workers write a heartbeat this often. The site takes work while a worker serving the kind was
# seen within CUALIFY_WORKER_ALIVE_SECONDS (one busy with a long task is late, not dead);
# /ready says "ready" only while one was seen within CUALIFY_READY_HEARTBEAT_SECONDS, so a load
# balancer stops sending within seconds of the last worker's death.
CUALIFY_HEARTBEAT_SECONDS = env.float("CUALIFY_HEARTBEAT_SECONDS", default=5.0)
CUALIFY_WORKER_ALIVE_SECONDS = env.float("CUALIFY_WORKER_ALIVE_SECONDS", default=45.0)
CUALIFY_READY_HEARTBEAT_SECONDS = env.float("CUALIFY_READY_HEARTBEAT_SECONDS", default=3 * CUALIFY_HEARTBEAT_SECONDS)
# Workers whose media storage has no local paths (object storage) copy model files into
# <data dir>/model-cache/<sha256>/; past this size the least recently used are removed.
CUALIFY_MODEL_CACHE_MAX_BYTES = env.int("CUALIFY_MODEL_CACHE_MAX_BYTES", default=20 * 1024**3)
# Heartbeat rows of workers not seen for this long are deleted (by the live workers' heartbeats).
CUALIFY_HEARTBEAT_KEEP_SECONDS = env.float("CUALIFY_HEARTBEAT_KEEP_SECONDS", default=3600.0)

# --- Generation ------------------------------------------------------------------------------
# A running job's lease: the worker renews it at every progress step; one that ran out means the
# worker died, and the sweeper hands the job to another worker.
CUALIFY_GENERATION_LEASE_SECONDS = env.float("CUALIFY_GENERATION_LEASE_SECONDS", default=60.0)
# After this many claims a job that keeps failing (or killing its worker) ends as failed.
CUALIFY_GENERATION_MAX_ATTEMPTS = env.int("CUALIFY_GENERATION_MAX_ATTEMPTS", default=3)
# How often the sweeper looks for lost jobs (a django-q2 schedule, in minutes).
CUALIFY_GENERATION_SWEEP_MINUTES = env.int("CUALIFY_GENERATION_SWEEP_MINUTES", default=1)
# Projection steps for a variation of an uploaded reference image (CPU seconds grow with it).
CUALIFY_PROJECTION_STEPS = env.int("CUALIFY_PROJECTION_STEPS", default=100)
# Print jobs (made by the generate cluster's workers): the largest tile file at 300 dpi, and the
# largest fabric file at 150 dpi, in megapixels. The fabric's may not be set below a 150 × 110 cm
# cloth (57.5 MP); 100 MP covers a kain panjang of 250 × 110 cm.
CUALIFY_PRINT_MAX_MEGAPIXELS = env.float("CUALIFY_PRINT_MAX_MEGAPIXELS", default=_limits.PRINT_MAX_MEGAPIXELS)
CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS = env.float("CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS",
                                                default=_limits.PRINT_FABRIC_MAX_MEGAPIXELS)
if CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS < _limits.print_fabric_min_megapixels():
    raise ImproperlyConfigured(
        f"CUALIFY_PRINT_FABRIC_MAX_MEGAPIXELS must cover a {_limits.PRINT_FABRIC_MUST_COVER_CM[0]:g} x "
        f"{_limits.PRINT_FABRIC_MUST_COVER_CM[1]:g} cm cloth at {_limits.PRINT_FABRIC_DPI} dpi: at least "
        f"{_limits.print_fabric_min_megapixels():.2f}")

# --- Rate limits (core.throttles) -----------------------------------------------------------
# Requests per user (or, not signed in, per client address) in each scope, counted together at
# every door: the site's forms, the REST API and the Flask-compatible service (management
# commands are not limited). "<count>/<sec|min|hour|day>"; empty: no limit. Counted in the
# default cache: shared by all processes with REDIS_URL, else per process. Past a rate: 429.
CUALIFY_RATE_LIMITS = {
    # CUALIFY_THROTTLE_CLASSIFY / _GENERATE, the API-only names these had before, still work.
    "classify": env.str("CUALIFY_RATE_CLASSIFY", default=env.str("CUALIFY_THROTTLE_CLASSIFY", default="30/min")),
    "generate": env.str("CUALIFY_RATE_GENERATE", default=env.str("CUALIFY_THROTTLE_GENERATE", default="10/min")),
    "print": env.str("CUALIFY_RATE_PRINT", default="20/hour"),  # seconds of CPU and hundreds of MB each
    "saliency": env.str("CUALIFY_RATE_SALIENCY", default="10/min"),
}

# --- REST API (/api/v1/, cualify/api.py) ------------------------------------------------------
# Seconds POST /api/v1/classify/ waits for the answer before replying 202 with an address to poll.
CUALIFY_API_CLASSIFY_WAIT_SECONDS = env.float("CUALIFY_API_CLASSIFY_WAIT_SECONDS", default=10.0)
REST_FRAMEWORK = {
    # Token first: a request without credentials is answered 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.JSONParser", "core.api.FormParser", "core.api.MultiPartParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": env.int("CUALIFY_API_PAGE_SIZE", default=20),
    "DEFAULT_THROTTLE_CLASSES": ["core.api.AnonThrottle", "core.api.UserThrottle", "core.api.ScopedThrottle"],
    # Counted per process in the default cache: configure a shared cache (e.g. Redis) when
    # several web processes serve the API.
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("CUALIFY_THROTTLE_ANON", default="120/min"),
        "user": env.str("CUALIFY_THROTTLE_USER", default="1200/min"),
    },
    "NUM_PROXIES": CUALIFY_PROXY_COUNT or None,  # the client address for anonymous throttles
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Cualify API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "The Batik Cual motif archive, classification of cloth photos and motif generation. "
        "Authenticate with `Authorization: Token <key>` (make a token on your account page); anonymous "
        "callers read the public catalogue and may classify and generate within tight throttles. Every error "
        "answers `{\"error\": message, \"detail\": {...}}`, the message in the language of "
        "`Accept-Language` (id or en)."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Separate request and response components: uploads are documented as binary.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets that share a field name get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "MotifStatusEnum": "motifs.models.Motif.Status",
        "ClassificationStatusEnum": "inference.models.ClassificationRecord.Status",
        "JobStatusEnum": "inference.models.GenerationJob.Status",
        "OwnershipRoleEnum": "motifs.models.Ownership.Role",
        "OwnerKindEnum": "motifs.models.Owner.Kind",
        "ModelKindEnum": "inference.models.ModelKind",
        "ImageSourceEnum": "motifs.models.MotifImage.Source",
        "ModelSourceEnum": "inference.models.ModelVersion.Source",
    },
}

# --- Privacy ---------------------------------------------------------------------------------
# Anonymous visitors' classifications and generations (photos, references, results) are
# deleted this many days after they were made, by a scheduled task (0: never). Registered
# users' records stay until they delete them.
CUALIFY_ANONYMOUS_RETENTION_DAYS = env.int("CUALIFY_ANONYMOUS_RETENTION_DAYS", default=30)

# --- Security headers (every environment) ----------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (core.security): scripts only from our own files, no inline
# script. Styles allow 'unsafe-inline' because templates set widths with style attributes
# (progress and confidence bars) and the admin uses them too. blob: images are the photo
# preview before upload. CUALIFY_CSP replaces the whole policy (e.g. to add a media host).
CUALIFY_CSP = env.str("CUALIFY_CSP", default="; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]))
# Send the policy as Content-Security-Policy-Report-Only (to try a changed policy first).
CUALIFY_CSP_REPORT_ONLY = env.bool("CUALIFY_CSP_REPORT_ONLY", default=False)

# --- Deployment ------------------------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe these over plain HTTP on the private network.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
