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


class OutputWriteError(PolydubError):
    """A file could not be written: the disk is full or read-only, or permission is missing."""


_WRITE_PROBLEMS = {
    "ENOSPC": "the disk is full",
    "EDQUOT": "the disk quota is exceeded",
    "EFBIG": "the file is too large for the file system (or the file-size limit)",
    "EROFS": "the file system is read-only",
    "EACCES": "permission denied",
    "EPERM": "permission denied",
    "ENAMETOOLONG": "the file name is too long",
}


def write_error_message(exc: OSError, path: object = None) -> str:
    """One line for an OSError met while writing: what went wrong and which file (``path`` or the error's own)."""
    import errno

    where = path if path is not None else (exc.filename if exc.filename is not None else "a file")
    problem = _WRITE_PROBLEMS.get(errno.errorcode.get(exc.errno or 0, ""))
    if problem is None:
        return f"could not write {where}: {exc.strerror or exc}"
    return f"could not write {where}: {problem} ({exc.strerror})"
