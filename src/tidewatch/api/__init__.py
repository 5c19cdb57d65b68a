"""HTTP APIs: the platforms' partner API and the unit's own API (FastAPI)."""

from tidewatch.api.app import create_app

__all__ = ["create_app"]
