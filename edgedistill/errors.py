"""The one base class for errors a user can fix: the CLI prints their message and exits 1."""


class EdgedistillError(Exception):
    """Bad input or an unusable file; the message is one sentence naming what was wrong."""


def first_sentence(exc: BaseException, limit: int = 300) -> str:
    """The first sentence of a dependency's error message, to quote inside one of ours."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first = text.splitlines()[0].split(". ")[0].rstrip(".")
    return first[:limit]
