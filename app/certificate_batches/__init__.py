"""Certificates for a whole cohort, for coordinators and admins: a course run's or an intake's certificates with
what is still to be issued, issuing them a chunk at a time with progress shown, and a ZIP of them all."""

from app.certificate_batches.routes import bp

__all__ = ["bp"]
