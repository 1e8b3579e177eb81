"""Cohort review pages for coordinators and admins: an intake's, a course run's and every apprentice in the
viewer's organisations, with each person's progress, risk rating and flags; filters, sorting, search, pages,
pictures, CSV and XLSX exports, and a button to work the flags out again."""

from app.cohort_review.routes import bp

__all__ = ["bp"]
