"""Settings from the environment (prefix ``TIDEWATCH_``), with the embedded defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIDEWATCH_")

    #: SQLAlchemy URL. Default: an SQLite file under ``var/`` of the working directory.
    database_url: str = ""
    var_dir: Path = Path("var")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'tidewatch.db').as_posix()}"


def get_settings() -> Settings:
    return Settings()
