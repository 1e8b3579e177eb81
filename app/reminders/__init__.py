"""Reminders: each person's reminder settings, and the admins' preview of the next run with the reminders sent."""

from app.reminders.routes import bp

__all__ = ["bp"]
