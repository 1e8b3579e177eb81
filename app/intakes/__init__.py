"""Intakes for coordinators and admins: the list with apprentices counted by status, adding and changing an
intake, and the apprentices of an intake the viewer coordinates."""

from app.intakes.routes import bp

__all__ = ["bp"]
