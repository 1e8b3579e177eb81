"""PDF documents from HTML templates, rendered by WeasyPrint as PDF/A-3b.

One stylesheet object and one font configuration are made once per process and reused, which
roughly halves the time of a warm render. Nothing is fetched over the network: the only resources
a document may load are ``data:`` URIs (the QR code), and fonts come from the machine (DejaVu Sans
and Serif; WeasyPrint embeds the subsets it uses). Metadata (title, author, subject, keywords) come
from the document's ``<title>`` and ``<meta>`` elements.

``render_pdf`` needs no application context: without one it renders with a standalone Jinja
environment over ``templates/certificates``, so it can run in a worker process.
"""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, PrefixLoader, StrictUndefined, select_autoescape

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
CERTIFICATE_TEMPLATES_DIR = TEMPLATES_DIR / "certificates"
STYLESHEET = CERTIFICATE_TEMPLATES_DIR / "certificate.css"
PDF_VARIANT = "pdf/a-3b"
# The QR image's resolution; the stylesheet prints it about 3 cm wide.
QR_TARGET_PIXELS = 240
QR_MASK_PATTERN = 0

_lock = threading.Lock()
_resources: tuple | None = None  # (weasyprint.CSS, FontConfiguration, URLFetcher)
_environment: Environment | None = None


def standalone_environment() -> Environment:
    """A Jinja environment over the certificate templates, with the same settings as the app's, named
    as in the app (``certificates/course.html``). Made once per process."""
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=PrefixLoader({"certificates": FileSystemLoader(str(CERTIFICATE_TEMPLATES_DIR))}),
            autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined,
            auto_reload=False,
        )
    return _environment


def resources():
    """The process's stylesheet, font configuration and URL fetcher (created on first use)."""
    global _resources
    if _resources is None:
        with _lock:
            if _resources is None:
                from weasyprint import CSS, URLFetcher
                from weasyprint.text.fonts import FontConfiguration

                fetcher = URLFetcher(allowed_protocols={"data"})
                fonts = FontConfiguration()
                css = CSS(filename=str(STYLESHEET), font_config=fonts, url_fetcher=fetcher)
                _resources = (css, fonts, fetcher)
    return _resources


def html_to_pdf(html: str, *, attachments=None) -> bytes:
    """Render an HTML document (with its ``<title>`` and ``<meta>``) to PDF/A-3b bytes."""
    from weasyprint import HTML

    css, fonts, fetcher = resources()
    document = HTML(string=html, base_url=str(CERTIFICATE_TEMPLATES_DIR) + "/", url_fetcher=fetcher)
    return document.write_pdf(stylesheets=[css], font_config=fonts, presentational_hints=True,
                              pdf_variant=PDF_VARIANT, attachments=attachments or None, finisher=_plain_metadata)


def _plain_metadata(_document, pdf) -> None:
    """Leave the XMP metadata stream uncompressed, so archive tools (and a plain search of the bytes)
    read the PDF/A identification, title and author without inflating anything."""
    reference = pdf.catalog.get("Metadata")
    if reference is not None:
        pdf.objects[int(reference.split()[0])].compress = False


def render_pdf(template_name: str, context: dict, *, title: str, attachments=None,
               environment: Environment | None = None) -> bytes:
    """Render ``template_name`` with ``context`` (and ``title``, for ``<title>``) to PDF/A-3b bytes.
    Uses the app's Jinja environment inside an application context, else the standalone one."""
    if environment is None:
        from flask import current_app, has_app_context

        environment = current_app.jinja_env if has_app_context() else standalone_environment()
    html = environment.get_template(template_name).render(**context, title=title)
    return html_to_pdf(html, attachments=attachments)


def qr_png_data_uri(text: str) -> str:
    """A QR code of ``text`` (error correction M, with its quiet zone) as a greyscale PNG ``data:`` URI, with
    whole pixels per module so it prints sharp (the stylesheet sets its printed size, about 3 cm)."""
    import qrcode
    from PIL import Image
    from qrcode.constants import ERROR_CORRECT_M

    # A fixed mask: choosing the "best" of the eight costs ~8 ms of pure Python per certificate, and any mask
    # is valid and reads reliably at this size (the tests decode every certificate's code with zbar).
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, mask_pattern=QR_MASK_PATTERN)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    box = max(2, QR_TARGET_PIXELS // size)
    modules = Image.frombytes("L", (size, size), bytes(0 if dark else 255 for row in matrix for dark in row))
    buffer = io.BytesIO()
    modules.resize((size * box, size * box), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
