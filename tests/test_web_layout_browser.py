"""Layout a browser must measure (issue 23, item 18): the "Only undated" checkbox on Meetings kept
its label on one line, at desktop and at phone width. Runs on test_web_browser's site and browser."""

from __future__ import annotations

import pytest
from test_web_browser import browser, page, signed_in, site  # noqa: F401  (the fixtures: one setup)

from playwright.sync_api import Page  # isort: skip  (test_web_browser skips this module without chromium)

ONE_LINE = """(label) => { const s = getComputedStyle(label);
  const line = parseFloat(s.lineHeight) || parseFloat(s.fontSize) * 1.5;
  return [label.getBoundingClientRect().height, line]; }"""


@pytest.mark.parametrize("width", [1100, 375])
def test_the_only_undated_label_stays_on_one_line(page: Page, width: int) -> None:  # noqa: F811
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/meetings")
    label = page.locator("label.check", has_text="Only undated")
    height, line = label.evaluate(ONE_LINE)
    assert height < 1.5 * line, f"the label is {height}px tall, lines are {line}px, at {width}px"
    box = page.get_by_role("checkbox", name="Only undated").bounding_box()
    assert box is not None and box["width"] < 40  # the box its own size, not the field's width
