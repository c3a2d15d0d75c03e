"""One base class for every error a user can cause: the CLI prints its message, no traceback."""


class EpfpgaError(Exception):
    """A user-facing error; its message says what went wrong and how to fix it."""
