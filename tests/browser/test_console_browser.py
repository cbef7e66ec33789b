"""The console and share portal in a real browser: sign in, upload, watch, search, ask, keys, share, lockout."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "browser-test-password"
DOC = (b"Payment terms\n\nInvoices are payable within 30 days of receipt. Late payments accrue interest of "
       b"two percent per month. The supplier ships goods from Rotterdam.\n")


@pytest.fixture
def server(make_live_server):
    return make_live_server(ROSET_ADMIN_PASSWORD=PASSWORD)


def sign_in(page, base: str, password: str = PASSWORD):
    page.goto(base + "/console/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_console_end_to_end(chromium, server, shot, tmp_path):
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    base = server.url
    page.goto(base + "/console")
    shot(page, "01-login")
    sign_in(page, base)
    page.wait_for_url(base + "/console")
    assert page.get_by_role("heading", name="Dashboard").is_visible()

    # upload through the file input; the row reaches "completed" by polling
    sample = tmp_path / "terms.txt"
    sample.write_bytes(DOC)
    page.goto(base + "/console/files")
    page.fill("#upload-space", "shared")
    page.set_input_files("#file-input", str(sample))
    row = page.locator("#uploads li").first
    row.locator(".badge.s-completed").wait_for(timeout=120_000)
    shot(page, "02-files-uploaded")
    page.goto(base + "/console/files")
    assert page.get_by_role("link", name="terms.txt").is_visible()
    shot(page, "03-files")
    page.get_by_role("link", name="terms.txt").click()
    page.get_by_role("heading", name="Job timeline").wait_for()
    assert "payable within 30 days" in page.locator("article.markdown").inner_text()
    shot(page, "04-file-detail")
    page.goto(base + "/console")
    shot(page, "05-dashboard")
    page.goto(base + "/console/jobs")
    shot(page, "06-jobs")

    # search
    page.goto(base + "/console/search")
    page.get_by_label("Query").fill("payment interest")
    page.get_by_role("button", name="Search").click()
    results = page.locator("ol.results li")
    results.first.wait_for()
    shot(page, "07-search")
    if "not available" not in page.content():
        assert "terms.txt" in results.first.inner_text()

    # Q&A: streamed answer with a citation
    page.goto(base + "/console/qa")
    qa_ready = "not available yet" not in page.content()
    page.get_by_label("Question").fill("What are the payment terms?")
    page.get_by_role("button", name="Ask").click()
    page.locator("#answer").filter(has_text=re.compile(r"\S")).wait_for(timeout=60_000)
    if qa_ready:
        page.locator("#sources a").first.wait_for(timeout=60_000)
        assert "terms.txt" in page.locator("#sources").inner_text()
    shot(page, "08-qa")

    # an API key is shown once
    page.goto(base + "/console/keys")
    page.get_by_label("Name", exact=True).fill("ci key")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key-value").input_value()
    assert key.startswith("rsk_")
    shot(page, "09-key-created")
    page.goto(base + "/console/keys")
    assert key not in page.content()

    # share portal: only that space
    with server.client() as api:
        api.post("/v1/upload", params={"space": "private"}, files={"file": ("secret.txt", b"secret", "text/plain")},
                 data={"skip_processing": "true"})
    page.goto(base + "/console/spaces")
    shot(page, "10-spaces")
    page.locator("form[action='/console/spaces/share']").filter(has=page.locator("input[value='shared']")) \
        .get_by_role("button", name="Create share link").click()
    url = page.locator("#share-url").input_value()
    assert "/portal/ptk_" in url
    for name in ("connections", "webhooks", "provider-keys", "settings", "logs"):
        page.goto(f"{base}/console/{name}")
        shot(page, f"11-{name}")
    portal = ctx.new_page()
    portal.goto(url)
    assert portal.get_by_role("link", name="terms.txt").is_visible()
    assert "secret.txt" not in portal.content()
    shot(portal, "12-portal")
    portal.get_by_role("link", name="terms.txt").click()
    portal.locator("article.markdown").wait_for()
    shot(portal, "13-portal-file")
    portal.goto(base + "/portal/ptk_invalid")
    assert "not valid" in portal.content()
    shot(portal, "14-portal-invalid")

    # phone-sized layout
    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    p2 = phone.new_page()
    sign_in(p2, base)
    p2.goto(base + "/console/files")
    shot(p2, "15-phone-files")
    phone.close()
    ctx.close()


def test_five_wrong_passwords_lock(chromium, server, shot):
    ctx = chromium.new_context()
    page = ctx.new_page()
    for _ in range(5):
        sign_in(page, server.url, "wrong-password")
    assert "locked" in page.locator("[role=alert]").inner_text()
    sign_in(page, server.url)  # the right password is refused while locked
    assert "locked" in page.locator("[role=alert]").inner_text()
    assert re.search(r"/console/login", page.url)
    shot(page, "16-locked")
    ctx.close()
