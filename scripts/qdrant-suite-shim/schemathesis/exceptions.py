"""Errors of the stand-in schemathesis."""
class CheckFailed(AssertionError):
    """A response does not match its documented schema."""
