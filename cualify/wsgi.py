"""WSGI entry point of the site (gunicorn cualify.wsgi)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cualify.settings")
application = get_wsgi_application()
