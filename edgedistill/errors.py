"""The one base class for errors a user can fix: the CLI prints their message and exits 1."""


class EdgedistillError(Exception):
    """Bad input or an unusable file; the message is one sentence naming what was wrong."""
