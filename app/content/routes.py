"""The images lessons use, served from each course's images/ folder."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

from app.content.validation import ID_PATTERN
from app.policy import public

bp = Blueprint("course_images", __name__)


@bp.get("/course-images/<slug>/<path:filename>")
@public
def image(slug: str, filename: str):
    if not ID_PATTERN.match(slug):
        abort(404)
    folder = Path(current_app.config["COURSES_DIR"]).resolve() / slug / "images"
    if not folder.is_dir():
        abort(404)
    # send_from_directory refuses paths that leave the folder.
    response = send_from_directory(folder, filename, max_age=3600)
    # An image is never a page: nothing in it (an SVG's script, say) may run.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return response
