"""Boilerplate removal for web pages: the main content, without navigation, banners, footers and asides."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag

_CHROME_TAGS = ("nav", "aside", "header", "footer")
_NAV_ROLES = {"navigation", "complementary", "search"}
_CHROME_ROLES = _NAV_ROLES | {"banner", "contentinfo"}
_CHROME_NAMES = re.compile(r"(^|[-_ ])(nav|navbar|navigation|menu|breadcrumbs?|footer|sidebar|cookie|skip-link)([-_ ]|$)", re.I)
KEEP_ALL_BELOW = 0.1  # chrome holding more than 90% of the text is the page itself
MIN_MAIN_SHARE = 0.2  # a <main> holding less of the page's text than this is a decoy (a skip target)


def _text_len(node: Tag) -> int:
    return len("".join(node.get_text(" ").split()))


def _link_share(node: Tag) -> float:
    total = _text_len(node)
    if not total:
        return 0.0
    linked = sum(_text_len(a) for a in node.find_all("a"))
    return linked / total


def _tags(root: Tag) -> list[Tag]:
    # A plain walk: bs4's find_all() builds its matching rules per call, slow on large pages.
    return [n for n in root.descendants if isinstance(n, Tag)]


def _outermost(nodes: list[Tag]) -> list[Tag]:
    """The nodes not inside another of them (removing those removes the rest)."""
    ids = {id(node) for node in nodes}
    return [node for node in nodes if not any(id(p) in ids for p in node.parents)]


def main_content(soup: BeautifulSoup, body: Tag) -> Tag:
    """The page's main element when it declares one; otherwise the body with page chrome removed.

    Chrome is the nav/aside elements, header/footer elements outside any article, elements with a
    landmark role of navigation/banner/contentinfo/complementary, and link-dense blocks whose class
    or id names them as navigation, menus or footers. Pages without any of these come out whole.
    """
    total = _text_len(body)
    tags = _tags(body)
    candidates = [n for n in tags if n.name == "main" or str(n.get("role") or "").lower() == "main"]
    articles = [n for n in tags if n.name == "article"]
    if len(articles) == 1:
        candidates.append(articles[0])
    for cand in candidates:
        if total and _text_len(cand) >= MIN_MAIN_SHARE * total:
            # Inside the main content, headers and footers belong to the article; navigation does not.
            for node in _outermost([n for n in _tags(cand) if _is_navigation(n)]):
                node.decompose()
            return cand
    chrome = _outermost([node for node in tags if _is_chrome(node)])
    removed = sum(_text_len(node) for node in chrome)
    if total and total - removed < KEEP_ALL_BELOW * total:
        return body  # the page is all navigation (a menu, a link list): that is its content
    for node in chrome:
        # A page banner often holds the page's own title: its headings stay where the banner was.
        if node.name == "header" or str(node.get("role") or "").lower() == "banner":
            for heading in [n for n in _tags(node) if n.name in ("h1", "h2")]:
                node.insert_before(heading.extract())
        node.decompose()
    return body


def _is_navigation(node: Tag) -> bool:
    if node.attrs is None:
        return False
    return node.name in ("nav", "aside") or str(node.get("role") or "").lower() in _NAV_ROLES


def _is_chrome(node: Tag) -> bool:
    if node.attrs is None:
        return False
    if node.name in ("nav", "aside"):
        return True
    if node.name in ("header", "footer") and node.find_parent(["article", "main"]) is None:
        return True
    if str(node.get("role") or "").lower() in _CHROME_ROLES:
        return True
    if node.name in ("div", "ul", "section"):
        names = " ".join([str(node.get("id") or "")] + [str(c) for c in node.get("class") or []])
        if names and _CHROME_NAMES.search(names) and _link_share(node) > 0.5:
            return True
    return False
