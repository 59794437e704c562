"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Every browser test runs twice, once per screen: a laptop (1366x768) and a phone
(390x844, touch, as mobile Chrome lays pages out). The `screen` fixture says which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
# make to set up rows happen outside any request, which Django allows with this flag.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass(frozen=True)
class Screen:
    """A screen size the pages must work at, and the browser context that shows it."""

    name: str
    width: int
    height: int
    context_args: dict[str, Any] = field(default_factory=dict)

    @property
    def is_phone(self) -> bool:
        return self.name == "phone"

    def picture(self, name: str) -> str:
        """A screenshot's file name: "tags.png" on the desktop, "tags-phone.png" on a phone."""
        return name if not self.is_phone else name.replace(".png", "-phone.png")

    def screenshot(
        self, page: Page, folder: Path, name: str, *, phone_shows: Locator | None = None
    ) -> None:
        """The whole page on a desktop; on a phone what the screen shows (with the bars
        that stick to its edges where they stick), scrolled to `phone_shows` if given."""
        if self.is_phone and phone_shows is not None:
            phone_shows.scroll_into_view_if_needed()
        page.screenshot(path=str(folder / self.picture(name)), full_page=not self.is_phone)


DESKTOP = Screen("desktop", 1366, 768, {"viewport": {"width": 1366, "height": 768}})
PHONE = Screen(
    "phone",
    390,
    844,
    {
        "viewport": {"width": 390, "height": 844},
        "screen": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
)
SCREENS = [DESKTOP, PHONE]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make install` installs it.")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(params=SCREENS, ids=[screen.name for screen in SCREENS])
def screen(request: pytest.FixtureRequest) -> Screen:
    """The screen this run of the test uses (every browser test runs on both)."""
    return request.param


@pytest.fixture
def context(new_context, screen: Screen):
    """pytest-playwright's context, at the size of `screen`."""
    return new_context(**screen.context_args)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """docs/ (the README's pictures) with SAVE_SCREENSHOTS=1 (`make screenshots`), else tmp."""
    return DOCS if os.environ.get("SAVE_SCREENSHOTS") else tmp_path
