"""The one exception type that means "the user asked for something we cannot do"."""


class LstmlabError(Exception):
    """A user mistake (bad file, impossible setting, corrupt checkpoint...).

    The CLI prints the message as a single line, without a traceback, and exits
    with status 2. Messages name the problem *and* the fix, e.g.
    "corpus.txt is not valid UTF-8 (byte 0xe9 at offset 12); pass --encoding latin-1".
    """
