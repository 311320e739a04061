"""Real headless Chromium (Debian's `chromium`) driven by Playwright: never a downloaded build."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.audit.chromium import FLAGS, chromium_binary

# Playwright runs its own headless mode and reads the console itself
LAUNCH_FLAGS = [f for f in FLAGS if f not in ("--headless", "--enable-logging=stderr", "--v=0")]


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright ``Browser`` on the system's Chromium (skipped/failed as `chromium_binary`)."""
    from playwright.sync_api import sync_playwright

    binary = chromium_binary()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=LAUNCH_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """Every console error and uncaught exception of a page (also failed requests)."""

    errors: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)  # HTTP errors, with their URL

    def watch(self, page: Any) -> Any:
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", self._failed)
        page.on(
            "response", lambda r: r.status >= 400 and self.responses.append(f"{r.status} {r.url}")
        )
        return page

    def _failed(self, request: Any) -> None:
        # a fetch cut short by navigating away (a live refresh in flight) is not an error
        if request.failure != "net::ERR_ABORTED":
            self.errors.append(f"request failed: {request.url} ({request.failure})")


def box(page: Any, selector: str) -> dict[str, float]:
    """The bounding box of the first element matching ``selector`` (fails when absent)."""
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return found


def inside(inner: dict[str, float], outer: dict[str, float], slack: float = 1.0) -> bool:
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


def check_lift_chart(page: Any, chart: str) -> list[str]:
    """The lift chart ``chart`` has its line, band and zero line, the band inside the plot,
    and round percent ticks including 0%; returns the y tick labels."""
    import re

    for part in ("line-0", "band", "zero-line"):
        assert page.locator(f'[id="{chart}-{part}"]').count() == 1, f"{chart}: no {part}"
    plot = box(page, f'[id="{chart}-plot"]')
    assert inside(box(page, f'[id="{chart}-band"]'), plot), f"{chart}: band outside the plot"
    assert inside(box(page, f'[id="{chart}-zero-line"]'), plot)
    ticks = page.locator(f'[id="{chart}-y-axis"] text').all_text_contents()
    labels = [t.replace("\u2212", "-") for t in ticks if t.strip()]
    assert "0%" in labels, labels
    assert all(re.fullmatch(r"-?\d+(\.\d)?%", t) for t in labels), labels
    return labels
