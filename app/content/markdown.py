"""Lesson Markdown: CommonMark (with tables) rendered to safe HTML in GOV.UK style.

Raw HTML is escaped, not rendered; the output is sanitised again with nh3, keeping only the tags
of ordinary prose and only http, https, mailto and relative URLs. Relative images (and links to
files in the course's images/ folder) are served by the app at ``/course-images/<slug>/<file>``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_SCHEMES = {"http", "https", "mailto"}
SCHEME_PATTERN = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
IMAGE_URL_PREFIX = "/course-images"

HEADING_CLASSES = {"h2": "govuk-heading-m", "h3": "govuk-heading-s", "h4": "govuk-heading-s"}
BLOCK_CLASSES = {
    "paragraph_open": "govuk-body",
    "bullet_list_open": "govuk-list govuk-list--bullet",
    "ordered_list_open": "govuk-list govuk-list--number",
    "blockquote_open": "govuk-inset-text",
    "table_open": "govuk-table",
    "thead_open": "govuk-table__head",
    "tbody_open": "govuk-table__body",
    "tr_open": "govuk-table__row",
    "th_open": "govuk-table__header",
    "td_open": "govuk-table__cell",
    "hr": "govuk-section-break govuk-section-break--m govuk-section-break--visible",
}

TAGS = {"p", "h2", "h3", "h4", "ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a", "img",
        "table", "thead", "tbody", "tr", "th", "td", "hr", "br"}
CLASSES = {
    "p": {"govuk-body"},
    "h2": {"govuk-heading-m"},
    "h3": {"govuk-heading-s"},
    "h4": {"govuk-heading-s"},
    "ul": {"govuk-list", "govuk-list--bullet"},
    "ol": {"govuk-list", "govuk-list--number"},
    "a": {"govuk-link"},
    "blockquote": {"govuk-inset-text"},
    "table": {"govuk-table"},
    "thead": {"govuk-table__head"},
    "tbody": {"govuk-table__body"},
    "tr": {"govuk-table__row"},
    "th": {"govuk-table__header"},
    "td": {"govuk-table__cell"},
    "hr": {"govuk-section-break", "govuk-section-break--m", "govuk-section-break--visible"},
}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


def _parser(*, permissive: bool = False) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    if permissive:
        # To find every link an author wrote, even those the renderer will refuse.
        md.validateLink = lambda url: True
    return md


_RENDERER = _parser()
_FINDER = _parser(permissive=True)


@dataclass(frozen=True)
class Link:
    line: int  # in the Markdown text, counting from 1
    kind: str  # "link" or "image"
    url: str


def find_links(text: str) -> list[Link]:
    """Every link and image in ``text`` with the line it is on."""
    links = []
    for token in _FINDER.parse(text):
        if token.type != "inline" or not token.children:
            continue
        line = token.map[0] + 1 if token.map else 1
        for child in _flatten(token.children):
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type == "link_open":
                links.append(Link(line, "link", str(child.attrs.get("href", ""))))
            elif child.type == "image":
                links.append(Link(line, "image", str(child.attrs.get("src", ""))))
    return links


def _flatten(tokens: list[Token]):
    for token in tokens:
        yield token
        if token.type != "image" and token.children:
            yield from _flatten(token.children)


def scheme_of(url: str) -> str | None:
    match = SCHEME_PATTERN.match(url.strip())
    return match.group(1).lower() if match else None


def is_relative_file(url: str) -> bool:
    """A link to a file beside the lesson (not a web address, a site path or a #fragment)."""
    url = url.strip()
    return bool(url) and scheme_of(url) is None and not url.startswith(("/", "#", "\\"))


def relative_path(url: str) -> str:
    """The path part of a relative URL, decoded: ``../images/map%201.png#x`` → ``../images/map 1.png``."""
    return unquote(urlsplit(url.strip()).path)


def image_url(slug: str, lesson_dir: str, url: str) -> str | None:
    """The app's URL for a relative ``url`` that points into the course's images/ folder, else None.

    ``lesson_dir`` is the lesson's folder relative to the course folder ("lessons")."""
    target = posixpath.normpath(posixpath.join(lesson_dir, relative_path(url)))
    if not target.startswith("images/"):
        return None
    return f"{IMAGE_URL_PREFIX}/{quote(slug)}/{quote(target.removeprefix('images/'))}"


def render(text: str, *, slug: str, lesson_dir: str = "lessons") -> str:
    """Safe HTML for a lesson body."""
    tokens = _RENDERER.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            # The lesson's h1 is its title, so headings in the body run from h2 to h4.
            token.tag = f"h{min(max(int(token.tag[1]), 2), 4)}"
            if token.type == "heading_open":
                token.attrSet("class", HEADING_CLASSES[token.tag])
        elif token.type in BLOCK_CLASSES:
            token.attrSet("class", BLOCK_CLASSES[token.type])
        elif token.type == "inline" and token.children:
            for child in _flatten(token.children):
                if child.type == "link_open":
                    _set_url(child, "href", slug, lesson_dir, image=False)
                    child.attrSet("class", "govuk-link")
                elif child.type == "image":
                    _set_url(child, "src", slug, lesson_dir, image=True)
    html = _RENDERER.renderer.render(tokens, _RENDERER.options, {})
    return clean(html)


def _set_url(token: Token, attribute: str, slug: str, lesson_dir: str, *, image: bool) -> None:
    url = _safe_url(str(token.attrs.get(attribute, "")), slug, lesson_dir, image=image)
    if url:
        token.attrSet(attribute, url)
    else:
        token.attrs.pop(attribute, None)


def _safe_url(url: str, slug: str, lesson_dir: str, *, image: bool) -> str:
    scheme = scheme_of(url)
    if scheme is not None:
        return url if scheme in ALLOWED_SCHEMES else ""
    if is_relative_file(url):
        served = image_url(slug, lesson_dir, url)
        if served:
            return served
        return "" if image else url
    return url


def clean(html: str) -> str:
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        allowed_classes=CLASSES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )
