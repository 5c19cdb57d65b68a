"""Tidewatch: find, review, preserve and refer accounts that advertise migrant-smuggling services."""

__version__ = "0.1.0"
