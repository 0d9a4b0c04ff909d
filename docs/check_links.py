"""Check that every internal link of a built HTML site resolves: the file exists and, for a
``#fragment``, the target page has that id. External links (with a scheme, ``//host``) are not
checked: the build runs offline.

    python docs/check_links.py docs/_build/html      # exit 1 and one line per broken link
"""
from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

LINK_ATTRIBUTES = {"a": "href", "link": "href", "img": "src", "script": "src", "iframe": "src",
                   "source": "src"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        wanted = LINK_ATTRIBUTES.get(tag)
        if wanted and attrs.get(wanted):
            self.links.append(attrs[wanted])


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def _pages(site: Path) -> list[Path]:
    """The site's pages; ``_static`` holds the theme's own template files, not pages."""
    return [path for path in sorted(site.rglob("*.html"))
            if "_static" not in path.relative_to(site).parts]


def broken_links(site: Path) -> list[str]:
    """Every internal link of ``site``'s pages that does not resolve, as ``page: link (why)``."""
    site = Path(site)
    pages = {path.resolve(): _parse(path) for path in _pages(site)}
    problems = []
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            where = f"{path.relative_to(site.resolve())}: {link}"
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where} (no id {parts.fragment!r} there)")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python docs/check_links.py BUILT_HTML_FOLDER", file=sys.stderr)
        return 2
    site = Path(argv[0])
    if not (site / "index.html").exists():
        print(f"{site}: no index.html (build the site first: make docs)", file=sys.stderr)
        return 2
    problems = broken_links(site)
    for problem in problems:
        print(problem)
    pages = len(_pages(site))
    print(f"{pages} pages, {len(problems)} broken internal links", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
