"""The API docs page in a real browser: Authorize with an API key, then "Try it out" answers 200."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.browser


def test_docs_page_authorizes_with_an_api_key(chromium, live_server, shot):
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(live_server.url + "/schema/docs")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    api_key = dialog.locator(".auth-container").filter(has=page.locator("h4", has_text=re.compile(r"^ApiKey")))
    api_key.locator("input").fill(f"ApiKey {ADMIN_KEY}")
    api_key.get_by_role("button", name="Apply credentials").click()
    api_key.locator("button", has_text="Logout").wait_for()
    api_key.locator("button", has_text="Close").click()
    shot(page, "docs-01-authorized")

    operation = page.locator("#operations-files-V1FilesListFiles")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for(timeout=30_000)
    shot(page, "docs-02-try-it-out")
    assert status.inner_text().strip() == "200"
    assert '"files"' in operation.locator(".live-responses-table .microlight").first.inner_text()
    ctx.close()
