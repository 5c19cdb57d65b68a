"""PNG screenshots of the HTML renderings, taken with headless Chromium through Playwright.

One browser serves the whole capture. Each rendering is loaded with ``set_content`` into a page
that can do nothing but draw: JavaScript is off, the context is offline, service workers are
blocked and every request the page still tries is aborted (the rendering's own CSP already
forbids fetches). A dialog would mean a script ran after all: the screenshot is refused rather
than kept.

Chromium is Debian's (``apt-get install chromium``, ``make system-deps``), found at
``$TIDEWATCH_CHROMIUM``, then ``chromium`` or ``chromium-browser`` on the PATH;
``playwright install`` is not used.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from tidewatch.evidence.capture import Artifact, CaseContent, Producer

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WIDTH = 1000
HEIGHT = 700
TIMEOUT_MS = 30_000


class ScreenshotError(RuntimeError):
    """No browser to take screenshots with, or a rendering that did not behave."""


def chromium_path() -> str | None:
    configured = os.environ.get("TIDEWATCH_CHROMIUM", "")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Screenshotter:
    """``with Screenshotter() as shots: png = shots.take(html)``; one browser, one page."""

    def __init__(self, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.width, self.height = width, height
        self.dialogs: list[str] = []
        self.blocked: list[str] = []
        self._playwright: Any = None
        self._browser: Any = None
        self._page: Any = None

    def __enter__(self) -> Screenshotter:
        executable = chromium_path()
        if executable is None:
            raise ScreenshotError(
                "no Chromium for screenshots: install it (make system-deps) or set TIDEWATCH_CHROMIUM"
            )
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
            )
            context = self._browser.new_context(
                java_script_enabled=False,
                offline=True,
                service_workers="block",
                viewport={"width": self.width, "height": self.height},
                device_scale_factor=1,
                locale="en-GB",
                timezone_id="UTC",
            )
            context.set_default_timeout(TIMEOUT_MS)
            self._page = context.new_page()
            self._page.on("dialog", self._dialog)
            self._page.route("**/*", self._block)
        except Exception:
            self.close()
            raise
        return self

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(str(dialog.message))
        dialog.dismiss()

    def _block(self, route: Any) -> None:
        self.blocked.append(str(route.request.url))
        route.abort()

    def take(self, html: str) -> bytes:
        if self._page is None:
            raise ScreenshotError("use Screenshotter as a context manager")
        before = len(self.dialogs)
        self._page.set_content(html, wait_until="load")
        png: bytes = self._page.screenshot(full_page=True, type="png", animations="disabled")
        if len(self.dialogs) > before:
            raise ScreenshotError(f"a script ran in the rendering: {self.dialogs[before:]}")
        return png

    def close(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None
        self._page = None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def screenshot_producer(*, width: int = WIDTH, height: int = HEIGHT) -> Producer:
    """A PNG of every ``render/<stem>.html`` made so far, at ``render/<stem>.png``; it shows
    what the HTML shows, so it holds third parties' data when the HTML does."""

    def produce(content: CaseContent) -> list[Artifact]:
        renderings = [
            a
            for a in content.artifacts
            if a.kind == "render_html" and a.path.startswith("render/") and a.path.endswith(".html")
        ]
        if not renderings:
            return []
        made = []
        with Screenshotter(width=width, height=height) as shots:
            for html in renderings:
                made.append(
                    Artifact(
                        html.path.removesuffix(".html") + ".png",
                        "render_png",
                        shots.take(html.content.decode("utf-8")),
                        "image/png",
                        html.subject,
                        html.source_url,
                        html.third_party,
                    )
                )
        return made

    return produce
