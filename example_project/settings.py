"""Example project settings: the embedded default (SQLite, in-memory layer) unless the
environment names real services (DATABASE_URL, REDIS_URL)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    """``DJANGO_<NAME>`` or the usual ``<NAME>`` (what most hosts and images set)."""
    return os.environ.get(f"DJANGO_{name}", os.environ.get(name, default))


# The built-in key is for trying the example on a laptop. It also signs the JWTs the token
# endpoint hands out: a deployment that kept it would accept tokens anyone can forge.
BUILT_IN_SECRET_KEY = "example-project-insecure-key-change-me"
SECRET_KEY = _env("SECRET_KEY", BUILT_IN_SECRET_KEY)
DEBUG = _env("DEBUG", "1").strip().lower() in ("1", "true", "yes", "on")
ALLOWED_HOSTS = [h.strip() for h in _env("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")]
if not DEBUG and SECRET_KEY == BUILT_IN_SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "DEBUG is off but SECRET_KEY is the example project's built-in key, which also signs "
        "JWTs: set SECRET_KEY (or DJANGO_SECRET_KEY) to a long random value, for example "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "tigateway_channels",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    import dj_database_url

    # Persistent connections: a WebSocket connect that opens a new PostgreSQL connection for
    # each database hop spends most of its time there (docs/performance.md).
    database = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if os.environ.get("DATABASE_TEST_NAME"):
        # The test runner's database (Django's default is "test_" + NAME): scripts/test gives
        # each run and each Python/Django combination its own, so concurrent runs don't clash.
        database["TEST"] = {"NAME": os.environ["DATABASE_TEST_NAME"]}
    return database


DATABASES = {"default": _database()}

REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": os.environ.get(
                "CHANNEL_LAYER_BACKEND", "channels_redis.pubsub.RedisPubSubChannelLayer"
            ),
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TIGATEWAY_CHANNELS = {
    "ALLOW_ANONYMOUS_READ": os.environ.get("TIGATEWAY_ALLOW_ANONYMOUS_READ") == "1",
    # Any other key, as JSON (used by the fault tests and benchmarks to shorten timers).
    **json.loads(os.environ.get("TIGATEWAY_CHANNELS_JSON", "{}")),
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    # Password attempts on /api/token/ per client address (example_project/urls.py).
    "DEFAULT_THROTTLE_RATES": {"token": os.environ.get("TOKEN_THROTTLE_RATE", "20/minute")},
}

# Throttle counts must be shared by every worker, or N workers allow N times the rate.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi"),
        }
    }

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": dt.timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": dt.timedelta(days=1),
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "tigateway_channels": {
            "handlers": ["console"],
            "level": os.environ.get("TIGATEWAY_LOG_LEVEL", "INFO"),
        }
    },
}
