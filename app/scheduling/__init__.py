"""The scheduled jobs page for admins: each job's schedule, last and next run, running one now, and the history of
runs with their errors."""

from app.scheduling.routes import bp

__all__ = ["bp"]
