"""Reading Pathways pages in tests: visible text, the title, and the error beside a field."""

from __future__ import annotations

import re
from html import unescape


def html_of(response) -> str:
    return response.get_data(as_text=True)


def text_of(response) -> str:
    """The page's visible text, on one line."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html_of(response), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def page_title(response) -> str:
    match = re.search(r"<title>(.*?)</title>", html_of(response), re.S)
    return unescape(" ".join(match.group(1).split())) if match else ""


def field_error(response, field: str) -> str | None:
    """The error message shown beside ``field``, or None."""
    match = re.search(rf'<p id="{field}-error" class="govuk-error-message">(.*?)</p>', html_of(response), re.S)
    if not match:
        return None
    message = unescape(re.sub(r"<[^>]+>", " ", match.group(1)))
    return " ".join(message.split()).removeprefix("Error:").strip()
