"""The domain: plain functions over models that views, the CLI and scheduled jobs all call.

Services add and flush; the caller (a view, a command) commits, so one request is one transaction.
"""


class ServiceError(Exception):
    """A rule was broken. ``field`` names the input at fault, when there is one, so a form can
    show the message beside it and the CLI can name the option."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
