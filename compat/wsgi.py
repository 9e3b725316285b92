"""The Flask-compatible service's WSGI entry point: ``gunicorn compat.wsgi:app``."""
from .app import create_app

app = create_app()
