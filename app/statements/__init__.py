"""The pages a public service publishes for everyone, signed in or not: its accessibility statement, privacy
notice and cookies page, linked from every page's footer."""

from app.statements.routes import bp

__all__ = ["bp"]
