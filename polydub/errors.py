"""Errors that reach the user as one line naming the problem."""


class PolydubError(Exception):
    """Base class: the message is shown to the user as it is."""


class InputError(PolydubError):
    """The source file cannot be localized (missing, corrupt, no audio, ...)."""


class UnsupportedLanguageError(PolydubError, ValueError):
    """A requested language pair has no backend on this profile.

    A ValueError too, so that pydantic reports it as a validation error of the field
    (a readable message in the Prefect UI; the CLI prints it as one line).
    """


class BackendUnavailableError(PolydubError):
    """A backend's package, binary or weights are missing; the message says what to install."""
