"""Apprenticeship standards for coordinators and admins: the standards and their versions' KSBs, and adding
a standard or a new version of one."""

from app.standards.routes import bp

__all__ = ["bp"]
