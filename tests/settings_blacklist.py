"""The example project with simplejwt's token blacklist installed, for tests/blacklist/.

simplejwt imports its blacklist models when it starts, as abstract models when the app is not
installed, so the app cannot be added by a settings override within a test session: those
tests run in a session of their own with these settings (tests/test_authentication.py).
"""

from example_project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_simplejwt.token_blacklist"]  # noqa: F405
