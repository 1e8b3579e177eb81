"""Reading one part of the home page's panels in tests: the visible text and the links of the element with an id."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.pages import html_of

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Part(HTMLParser):
    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id = element_id
        self.depth = 0  # open elements inside the one wanted (0: outside it)
        self.found = False
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self.depth == 0 and not self.found and attributes.get("id") == self.element_id:
            self.found = True
            self.depth = 1 if tag not in VOID else 0
            return
        if self.depth:
            if tag == "a":
                self._link = (attributes.get("href", ""), [])
            if tag not in VOID:
                self.depth += 1

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag == "a" and self._link is not None:
            href, words = self._link
            self.links.append((" ".join("".join(words).split()), href))
            self._link = None
        self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)
            if self._link is not None:
                self._link[1].append(data)


def _parsed(response, element_id: str) -> _Part:
    parser = _Part(element_id)
    parser.feed(html_of(response))
    assert parser.found, f"no element with the id {element_id!r} on the page"
    return parser


def part(response, element_id: str) -> str:
    """The visible text of the element with ``element_id``, on one line."""
    return " ".join("".join(_parsed(response, element_id).text).split())


def links(response, element_id: str) -> list[tuple[str, str]]:
    """The links inside the element with ``element_id``: (text, href), in order."""
    return _parsed(response, element_id).links


def present(response, element_id: str) -> bool:
    return f'id="{element_id}"' in html_of(response)
