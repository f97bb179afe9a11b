"""docs/seeds.md works as written: every `lstmlab` command on the page runs.

The page is read with benchmarks/docs_commands.py, the same reader the
benchmark (benchmarks/seeds.py) uses, loaded by its path since benchmarks/ is
not a package. Each command keeps the page's flags; only what would make it
slow or need data that is not here changes: corpora become small slices of
the page's stand-ins (real text from ../shared/data), training commands get
`--steps 2` (language models also score only 1,000 held-out characters),
`generate` writes 30 characters or words, and every `runs/...` path points
into a temporary folder. A `generate` or `inspect` line runs against the run
its page command made here, training it first if need be. One PyTorch thread
throughout: the whole file takes about 20 s on 2 cores.

A flag the page uses that lstmlab lacks is a failure, never a skip:
test_every_flag_on_the_page_exists lists them all in one message.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from lstmlab.cli import main
from lstmlab.cli.main import build_parser

from tests.helpers import SHARED_DATA, shared_file
from tests.lm.keras_files import write_keras2_h5

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "seeds.md"


def _load_docs_commands():
    path = ROOT / "benchmarks" / "docs_commands.py"
    spec = importlib.util.spec_from_file_location("seeds_docs_commands", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


docs = _load_docs_commands()
COMMANDS = docs.parse_commands(PAGE.read_text(encoding="utf-8"))
# The runs the page's commands make, longest first so runs/a-b is matched before runs/a.
PAGE_RUNS = sorted({c.out for c in COMMANDS if c.makes_run}, key=len, reverse=True)

TRAIN_STEPS = ("--steps", "2")
# Language models validate at the start and the end; a seed recipe with windows every character
# scores one window per held-out character, so its validation, not its 2 steps, sets the cost.
LM_EVAL_CHARS = ("--eval-chars", "1000")
GENERATE_LENGTH = "30"  # the page's 300-1,000 characters, at several temperatures, cost more than the training
TEXT_SLICE_CHARS = 30_000  # enough windows for a batch of 128 and streams of 32 x 128
TWEETS_KEPT = 600  # all three sentiments, positives included, among the first rows
REVIEWS_PER_CLASS = 30
REVIEW_CHARS = 600  # the character classifiers unroll over every character: keep reviews short


def _command_id(command) -> str:
    what = "-".join(command.args[:2] if command.is_classifier else command.args[:1])
    tag = f"{'+'.join(command.rows)}-{command.recipe}" if command.recipe else "untagged"
    return f"L{command.line}-{tag}-{what}"


def _run_cli(args: list[str]) -> tuple[int, str, str]:
    """`lstmlab ARGS` in this process (no interpreter start-up per command), output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------
# Small stand-ins, made once
# ---------------------------------------------------------------------------


def _text_slice(stand_in, folder: Path) -> Path:
    """A slice from the middle of the stand-in text: real prose, no Gutenberg header to cut."""
    text = docs.load_stand_in(SHARED_DATA, stand_in)
    middle = max(0, len(text) // 2 - TEXT_SLICE_CHARS // 2)
    path = folder / f"{Path(stand_in.path).stem}-{stand_in.start or 0}-{stand_in.stop or 'end'}.txt"
    path.write_text(text[middle: middle + TEXT_SLICE_CHARS], encoding="utf-8")
    return path


def _tweets_slice(source: Path, folder: Path) -> Path:
    with source.open(encoding="utf-8", newline="") as f:
        records = list(csv.reader(f))[: TWEETS_KEPT + 1]  # the header and the first tweets
    path = folder / "Tweets.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(records)
    return path


def _reviews_slice(archive: Path, folder: Path) -> Path:
    """pos/ and neg/ folders of shortened reviews, the layout of aclImdb/train."""
    root = folder / "reviews"
    kept = {"pos": 0, "neg": 0}
    with tarfile.open(archive) as tar:
        for member in tar:
            label = Path(member.name).parent.name
            if not member.isfile() or label not in kept or kept[label] >= REVIEWS_PER_CLASS:
                continue
            text = tar.extractfile(member).read().decode("utf-8", errors="replace")[:REVIEW_CHARS]
            (root / label).mkdir(parents=True, exist_ok=True)
            (root / label / Path(member.name).name).write_text(text, encoding="utf-8")
            kept[label] += 1
    return root


def _seed004_keras_file(path: Path, vocab_text: str) -> Path:
    """A legacy Keras .h5 of seed 004's model, with random weights: characters fed as index / count,
    LSTM 300 (returning sequences) -> Dropout -> LSTM 300 -> Dropout -> Dense softmax, one output per
    character of the lowercased text it reads its vocabulary from (as import-keras --lowercase will)."""
    rng = np.random.default_rng(0)
    symbols, units, window = len(set(vocab_text.lower())), 300, 50

    def lstm(name: str, inputs: int, first: bool):
        config = {"name": name, "units": units, "return_sequences": first, "activation": "tanh",
                  "recurrent_activation": "sigmoid", "use_bias": True, "unit_forget_bias": True}
        if first:
            config["batch_input_shape"] = [None, window, 1]
        weights = [rng.normal(0, 0.1, (inputs, 4 * units)), rng.normal(0, 0.1, (units, 4 * units)), np.zeros(4 * units)]
        return "LSTM", config, [w.astype(np.float32) for w in weights]

    layers = [lstm("lstm", 1, True), ("Dropout", {"name": "dropout", "rate": 0.2}, []),
              lstm("lstm_1", units, False), ("Dropout", {"name": "dropout_1", "rate": 0.2}, []),
              ("Dense", {"name": "dense", "units": symbols, "activation": "softmax", "use_bias": True},
               [rng.normal(0, 0.1, (units, symbols)).astype(np.float32), np.zeros(symbols, np.float32)])]
    write_keras2_h5(path, layers)
    return path


# Stand-ins the page says the test makes itself: name -> maker(folder, the other stand-ins made so far).
MADE_BY_TEST = {
    "macbeth_model.h5": lambda folder, made: _seed004_keras_file(
        folder / "macbeth_model.h5", Path(made["gutenberg:1533"]).read_text(encoding="utf-8")),
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One PyTorch thread for these many tiny runs: on a machine other work shares, two threads
    wait for each other at every step (BENCHMARKS.md §10); here that was 6 minutes against 30 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> dict[str, str]:
    """What each stand-in name on the page becomes in this test: a path, or a literal such as glove-6b-50d."""
    shared_file("text/macbeth.txt")  # skips, saying why, when ../shared/data is absent
    folder = tmp_path_factory.mktemp("seed_stand_ins")
    made: dict[str, str] = {}
    page_stand_ins = docs.parse_stand_ins(PAGE.read_text(encoding="utf-8"))
    for name, stand_in in page_stand_ins.items():
        if stand_in.literal:
            made[name] = stand_in.literal
        elif stand_in.path:
            source = shared_file(stand_in.path)
            if source.name.endswith(".tar.gz"):
                made[name] = str(_reviews_slice(source, folder))
            elif source.suffix == ".csv":
                made[name] = str(_tweets_slice(source, folder))
            else:
                made[name] = str(_text_slice(stand_in, folder))
    for name, stand_in in page_stand_ins.items():
        if stand_in.made_elsewhere:
            assert name in MADE_BY_TEST, f"the page says the test makes {name}, but it does not know how"
            made[name] = str(MADE_BY_TEST[name](folder, made))
    return made


class Runs:
    """Runs page commands with their inputs swapped for small ones, once each, and remembers the
    runs made, so a `generate` line finds the run its page command trained (training it first if
    the test for that line has not run yet)."""

    def __init__(self, folder: Path, stand_ins: dict[str, str]):
        self.folder, self.stand_ins = folder, stand_ins
        self.results: dict[int, tuple[int, str, str, list[str]]] = {}  # page line -> code, out, err, args run

    def result(self, command) -> tuple[int, str, str, list[str]]:
        if command.line not in self.results:
            args = [self._swap(command, i, arg) for i, arg in enumerate(command.args)]
            if command.is_training:
                args += [*TRAIN_STEPS, *(() if command.is_classifier else LM_EVAL_CHARS), "--no-progress"]
            elif command.args[0] == "generate":
                args = list(docs.with_option(args, "--length", GENERATE_LENGTH))
            self.results[command.line] = (*_run_cli(args), args)
        return self.results[command.line]

    def _swap(self, command, i: int, arg: str) -> str:
        if arg in self.stand_ins:
            return self.stand_ins[arg]
        if command.makes_run and i > 0 and command.args[i - 1] == "--out":
            return str(self.folder / Path(arg).name)
        for page_out in PAGE_RUNS:
            if arg == page_out or arg.startswith(page_out + "/"):
                return str(self.run_made_by(page_out)) + arg[len(page_out):]
        return arg

    def run_made_by(self, page_out: str) -> Path:
        maker = next(c for c in COMMANDS if c.makes_run and c.out == page_out)
        code, _, err, args = self.result(maker)
        if code != 0:
            pytest.fail(f"the run {page_out} this command reads could not be made: "
                        f"`lstmlab {' '.join(args)}` (line {maker.line}) exited {code}:\n{err[-1500:]}")
        return Path(docs.option(args, "--out"))


@pytest.fixture(scope="module")
def runs(stand_ins, tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("seed_runs"), stand_ins)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def test_page_follows_its_own_rules():
    text = PAGE.read_text(encoding="utf-8")
    trainers = docs.training_commands(COMMANDS)  # raises PageError naming the line otherwise
    assert trainers, "no tagged rows on the page"
    assert "<!-- seeds-table -->" in text, "the benchmark table's placeholder is missing"
    stand_ins = docs.parse_stand_ins(text)
    used = {arg for c in COMMANDS for arg in c.args}
    assert not set(stand_ins) - used, f"stand-ins no command uses: {sorted(set(stand_ins) - used)}"
    for (row, recipe), command in trainers.items():
        for arg in command.args:
            if ":" in arg and arg.split(":")[0] in ("gutenberg", "builtin", "http", "https"):
                assert arg in stand_ins, f"{row} {recipe} reads {arg}, which has no stand-in for offline runs"
    for command in COMMANDS:
        if command.out and command.makes_run:
            assert command.out.startswith("runs/"), f"line {command.line}: --out should be runs/..."


def test_every_flag_on_the_page_exists():
    """Parse every command with lstmlab's own parser, without running it, and list what it refuses."""
    parser = build_parser()
    refused = []
    for command in COMMANDS:
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                parser.parse_args(list(command.args))
            except SystemExit:
                words = " ".join(command.args[:2] if command.is_classifier else command.args[:1])
                refused.append(f"line {command.line} (lstmlab {words}): {err.getvalue().strip().splitlines()[-1]}")
    assert not refused, "lstmlab refuses commands on docs/seeds.md:\n" + "\n".join(refused)


@pytest.mark.slow  # trains through the CLI for every command on the page: about 25 s in all
@pytest.mark.parametrize("command", COMMANDS, ids=[_command_id(c) for c in COMMANDS])
def test_command_runs(command, runs):
    code, out, err, args = runs.result(command)
    assert code == 0, f"`lstmlab {' '.join(args)}` (docs/seeds.md line {command.line}) exited {code}:\n{err[-3000:]}"
    if command.makes_run:
        run = Path(docs.option(args, "--out"))
        assert (run / "model.safetensors").is_file()
        if command.is_classifier:
            assert "accuracy" in json.loads((run / "report.json").read_text(encoding="utf-8"))["classifier"]
    elif command.args[0] == "generate":
        assert out.strip(), "generate wrote nothing"
    elif command.args[0] == "summary":
        assert "Total params" in out
    elif command.args[0] == "inspect":
        assert Path(docs.option(args, "--out")).is_file()
