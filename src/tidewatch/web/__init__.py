"""The analyst console and the partner portal: server-rendered pages (Jinja2 + HTMX)."""

from tidewatch.web.app import create_app

__all__ = ["create_app"]
