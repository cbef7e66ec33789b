"""Connections, settings forms and the self-refreshing files table in a real browser."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_console_browser import PASSWORD, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "roots"
    docs = root / "contracts"
    (docs / "2024").mkdir(parents=True)
    (docs / "terms.txt").write_text("Invoices are payable within 30 days.")
    (docs / "2024" / "renewal.txt").write_text("The contract renews every year.")
    return root


@pytest.fixture
def server(make_live_server, roots):
    return make_live_server(ROSET_ADMIN_PASSWORD=PASSWORD, ROSET_LOCAL_ROOTS=str(roots))


def test_connections_settings_and_files_refresh(chromium, server, shot, tmp_path):
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    base = server.url
    sign_in(page, base)
    page.wait_for_url(base + "/console")

    # provider-by-provider setup: S3 shows its least-privilege policy naming the bucket being typed
    page.goto(base + "/console/connections")
    shot(page, "20-connections-empty")
    page.get_by_role("link", name="Amazon S3").click()
    page.get_by_label("Bucket").fill("invoices-eu")
    assert '"arn:aws:s3:::invoices-eu"' in page.locator("#policy").inner_text()
    assert page.get_by_label("Secret access key").get_attribute("type") == "password"
    shot(page, "21-connections-s3-setup")
    page.get_by_role("link", name="Azure Blob Storage").click()
    page.get_by_label("Use the account name and key").check()
    assert page.get_by_label("Account key", exact=True).is_visible() and not page.get_by_label("Connection string", exact=True).is_visible()
    shot(page, "22-connections-azure-setup")

    # a refused directory comes back with the reason, nothing created
    page.get_by_role("link", name="Local directory").click()
    page.get_by_label("Name").fill("Contracts")
    page.get_by_label("Directory").fill("/etc")
    page.get_by_role("button", name="Verify and connect").click()
    assert "not inside an allowed local root" in page.locator("#connect-error").inner_text()
    shot(page, "23-connections-refused")

    # a local connection: verify, create, sync with progress, nodes, history, browse
    page.get_by_label("Directory").fill("contracts")
    page.get_by_label("Space", exact=False).first.fill("contracts")
    page.get_by_role("button", name="Verify and connect").click()
    page.wait_for_url(re.compile(r"/console/connections/conn-"))
    assert "Connected Contracts" in page.locator(".notice").inner_text()
    shot(page, "24-connection-new")
    page.get_by_role("button", name="Sync now").click()
    page.locator("#sync[data-state=completed]").wait_for(timeout=60_000)
    # The page reloads itself once the sync is done, to show the synced files and the history. The
    # script marks the box completed on the page it polls from, which may already list the files
    # (they are written before the sync completes): only the reloaded page's history says completed.
    page.locator("#sync-history .badge.s-completed").wait_for(timeout=30_000)
    page.locator("#nodes-table").get_by_role("link", name="terms.txt").wait_for(timeout=30_000)
    assert page.locator("#sync-bar").get_attribute("value") == "100"
    assert "Done" in page.locator("#sync-status").inner_text()
    assert "syncing" not in page.locator("#sync-history").inner_text()
    shot(page, "25-connection-synced")
    page.locator("#nodes-table").get_by_role("link", name="2024/").click()
    page.locator("#nodes-table").get_by_role("link", name="renewal.txt").wait_for()
    shot(page, "26-connection-folder")
    with page.expect_download() as download:
        page.locator("#nodes-table").get_by_role("link", name="renewal.txt").click()
    assert download.value.path().read_bytes() == b"The contract renews every year."
    page.get_by_role("link", name="Browse the bucket (live)").click()
    page.locator("#browse-table").get_by_role("link", name="2024/").click()
    page.locator("#browse-table").get_by_text("renewal.txt").wait_for()
    shot(page, "27-connection-browse")
    page.goto(base + "/console/connections")
    assert page.get_by_role("link", name="Contracts").is_visible()
    page.get_by_role("button", name="Test").first.click()
    assert "works" in page.locator(".notice").inner_text()
    shot(page, "28-connections-list")

    # settings through the form, with an error shown next to it
    page.goto(base + "/console/settings")
    page.get_by_label("Chunk size (characters)").fill("50")
    page.get_by_role("button", name="Save settings").click()
    assert "chunk_size" in page.locator("#settings-error").inner_text()
    shot(page, "29-settings-error")
    page.get_by_label("Chunk size (characters)").fill("1500")
    page.get_by_label("thumbnail").uncheck()
    page.get_by_role("button", name="Save settings").click()
    assert "Settings saved" in page.locator(".notice").inner_text()
    assert page.get_by_label("Chunk size (characters)").input_value() == "1500"
    assert not page.get_by_label("thumbnail").is_checked()
    page.get_by_role("button", name="Add a row").click()
    rows = page.locator("[data-rule-row]")
    last = rows.nth(rows.count() - 1)
    last.locator("input").fill("text/markdown")
    last.locator("select").select_option("openai")
    page.get_by_role("button", name="Save routing rules").click()
    assert "Routing rules saved" in page.locator(".notice").inner_text()
    assert page.locator("input[name=rule_content_type][value='text/markdown']").count() == 1
    shot(page, "30-settings")
    with server.client() as api:
        saved = api.get("/v1/org/settings").json()
        assert saved["default_chunking"]["chunk_size"] == 1500 and "thumbnail" not in saved["default_variants"]

    # the files table shows a new upload without a reload
    sample = tmp_path / "fresh-upload.txt"
    sample.write_text("A file that appears by itself.")
    page.goto(base + "/console/files")
    page.set_input_files("#file-input", str(sample))
    page.locator("#files-table").get_by_role("link", name="fresh-upload.txt").wait_for(timeout=30_000)
    shot(page, "31-files-refreshed")

    # phone width
    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    p2 = phone.new_page()
    sign_in(p2, base)
    p2.wait_for_url(base + "/console")
    p2.goto(base + "/console/connections?provider=s3")
    shot(p2, "32-phone-connections-setup")
    p2.goto(page.url.replace("/console/files", "/console/connections"))
    p2.get_by_role("link", name="Contracts").click()
    p2.locator("#sync-status").wait_for()
    shot(p2, "33-phone-connection")
    p2.goto(base + "/console/settings")
    shot(p2, "34-phone-settings")
    phone.close()
    ctx.close()
