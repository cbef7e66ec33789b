"""Console roles in a real browser: an admin creates a member on the users page; the member's menu
shows only the pages a member may open, and an admin page answers 403."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "browser-roles-admin"
MEMBER_PASSWORD = "browser-roles-member"


@pytest.fixture
def server(make_live_server):
    return make_live_server(ROSET_ADMIN_PASSWORD=ADMIN_PASSWORD)


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/console/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/console")


def test_admin_creates_a_member_whose_menu_hides_admin_pages(chromium, server, shot):
    base = server.url
    ctx = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    sign_in(page, base, "admin", ADMIN_PASSWORD)
    menu = page.get_by_role("navigation", name="Console")
    menu.get_by_role("link", name="Users").click()
    page.get_by_role("heading", name="Users").wait_for()
    form = page.locator("#new-user")
    form.get_by_label("Username").fill("mia")
    form.get_by_label("Password").fill(MEMBER_PASSWORD)
    form.get_by_label("Role").select_option("member")
    form.get_by_label("Spaces").fill("alpha")
    form.get_by_role("button", name="Create user").click()
    assert "Created mia (member)" in page.get_by_role("status").inner_text()
    row = page.locator("tr[data-user='mia']")
    assert row.get_by_label("Spaces of mia").input_value() == "alpha"
    shot(page, "roles-01-users")
    ctx.close()

    member = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = member.new_page()
    sign_in(page, base, "mia", MEMBER_PASSWORD)
    links = page.get_by_role("navigation", name="Console").get_by_role("link")
    names = [links.nth(i).inner_text() for i in range(links.count())]
    assert "Files" in names and "API keys" in names
    for hidden in ("Users", "Settings", "Provider keys", "Webhooks", "API logs"):
        assert hidden not in names, names
    assert "mia (member)" in page.locator(".who").inner_text()
    response = page.goto(base + "/console/settings")
    assert response is not None and response.status == 403
    assert "role does not allow" in page.get_by_role("alert").inner_text()
    shot(page, "roles-02-member-403")
    member.close()
