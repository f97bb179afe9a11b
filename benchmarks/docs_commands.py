"""The commands of docs/seeds.md, read the way that page says they are written.

Shared by benchmarks/seeds.py (which trains each row's faithful and
recommended command) and tests/cli/test_seeds_doc.py (which runs every command
for a few steps). It is a module of its own, standard library only, so the
test can load it by its path without pulling in a benchmark script's imports
or side effects; benchmarks/ is not a package.

The page's rules, checked here:

- a ```bash block holds only `lstmlab ...` command lines, comment lines and
  blank lines; no shell variables, no line continuations;
- a tag, `# ROW [ROW ...] faithful|recommended`, applies to the commands
  after it up to the next tag or the end of the block; under each tag there
  is exactly one training command (`train` or `classify train`);
- the stand-ins sit in a table between `<!-- stand-ins -->` and
  `<!-- /stand-ins -->`: the name used in the commands, then the stand-in
  (`path/under/shared/data`, `path[:N]` for its first N characters, a bare
  name such as `glove-6b-50d`, or no backticks: made by whoever runs it).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

RECIPES = ("faithful", "recommended")
ROW = r"\d{3}-[a-z0-9]+(?:-[a-z0-9]+)*"
TAG = re.compile(rf"^#\s*((?:{ROW}\s+)+)({'|'.join(RECIPES)})\s*$")
FENCE = re.compile(r"^\s*```\s*([\w+-]*)\s*$")
STAND_INS_START, STAND_INS_END = "<!-- stand-ins -->", "<!-- /stand-ins -->"
SLICE = re.compile(r"^(?P<path>.+?)\[(?P<start>\d*):(?P<stop>\d*)\]$")
# Commands that create a run folder at their --out.
RUN_MAKERS = (("train",), ("classify", "train"), ("import-keras",))


class PageError(ValueError):
    """The page breaks one of its own rules; the message names the line."""


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]  # what follows `lstmlab`
    line: int  # 1-based line number in the page
    block: int  # which ```bash block, from 0
    rows: tuple[str, ...] = ()  # the tag's rows; () when untagged
    recipe: Optional[str] = None  # "faithful", "recommended", or None when untagged

    @property
    def text(self) -> str:
        return shlex.join(("lstmlab", *self.args))

    @property
    def is_training(self) -> bool:
        return self.args[:1] == ("train",) or self.args[:2] == ("classify", "train")

    @property
    def is_classifier(self) -> bool:
        return self.args[:1] == ("classify",)

    @property
    def makes_run(self) -> bool:
        return any(self.args[: len(prefix)] == prefix for prefix in RUN_MAKERS)

    def option(self, name: str) -> Optional[str]:
        """The value of --name (its last occurrence, as argparse reads it), or None."""
        return option(self.args, name)

    @property
    def out(self) -> Optional[str]:
        return self.option("--out")


@dataclass(frozen=True)
class StandIn:
    name: str  # as written in the commands
    path: Optional[str] = None  # under shared/data
    start: Optional[int] = None  # character slice of path, when given
    stop: Optional[int] = None
    literal: Optional[str] = None  # a bare replacement such as glove-6b-50d

    @property
    def made_elsewhere(self) -> bool:
        return self.path is None and self.literal is None


def option(args: tuple[str, ...] | list[str], name: str) -> Optional[str]:
    value = None
    for i, arg in enumerate(args[:-1]):
        if arg == name:
            value = args[i + 1]
    return value


def with_option(args: tuple[str, ...] | list[str], name: str, value: str) -> tuple[str, ...]:
    """args with every `name VALUE` pair removed and `name value` appended (one clear setting,
    rather than relying on argparse taking the last)."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        else:
            kept.append(arg)
    return (*kept, name, str(value))


def bash_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(line number of the block's first line, its lines) for every ```bash block."""
    blocks: list[tuple[int, list[str]]] = []
    current: Optional[list[str]] = None
    inside_other = False
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if fence and current is None and not inside_other:
            if fence.group(1) == "bash":
                current, start = [], number + 1
            else:
                inside_other = True
        elif fence and current is not None and not fence.group(1):
            blocks.append((start, current))
            current = None
        elif fence and inside_other and not fence.group(1):
            inside_other = False
        elif current is not None:
            current.append(line)
    if current is not None:
        raise PageError(f"line {start - 1}: a ```bash block is never closed")
    return blocks


def parse_commands(text: str) -> list[Command]:
    commands: list[Command] = []
    for block, (first, lines) in enumerate(bash_blocks(text)):
        rows: tuple[str, ...] = ()
        recipe: Optional[str] = None
        for offset, raw in enumerate(lines):
            number, line = first + offset, raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                tag = TAG.match(line)
                if tag:
                    rows, recipe = tuple(tag.group(1).split()), tag.group(2)
                continue
            if not line.startswith("lstmlab "):
                raise PageError(f"line {number}: a bash block may hold only `lstmlab ...` commands and comments: {line}")
            if line.endswith("\\") or "$" in line:
                raise PageError(f"line {number}: no line continuations or shell variables, one whole command per line")
            try:
                words = shlex.split(line)
            except ValueError as exc:
                raise PageError(f"line {number}: {exc}: {line}") from None
            commands.append(Command(tuple(words[1:]), number, block, rows, recipe))
    return commands


def training_commands(commands: list[Command]) -> dict[tuple[str, str], Command]:
    """(row, recipe) -> that row's one training command; every tagged row needs both recipes."""
    found: dict[tuple[str, str], Command] = {}
    groups: dict[tuple[int, tuple[str, ...], str], list[Command]] = {}
    for command in commands:
        if command.recipe:
            groups.setdefault((command.block, command.rows, command.recipe), []).append(command)
    for (_, rows, recipe), members in groups.items():
        trainers = [c for c in members if c.is_training]
        if len(trainers) != 1:
            raise PageError(f"line {members[0].line}: the tag {' '.join(rows)} {recipe} needs exactly one training "
                            f"command under it, found {len(trainers)}")
        if not trainers[0].out:
            raise PageError(f"line {trainers[0].line}: a tagged training command needs --out runs/...")
        for row in rows:
            if (row, recipe) in found:
                raise PageError(f"line {trainers[0].line}: {row} has a second {recipe} command "
                                f"(the first is on line {found[row, recipe].line})")
            found[row, recipe] = trainers[0]
    for row in sorted({row for row, _ in found}):
        for recipe in RECIPES:
            if (row, recipe) not in found:
                raise PageError(f"row {row} has no {recipe} command")
    return found


def follow_ups(commands: list[Command], trainer: Command) -> list[Command]:
    """The commands tagged with the trainer's tag, in its block, after it (generate, inspect, ...)."""
    return [c for c in commands if c.block == trainer.block and c.rows == trainer.rows
            and c.recipe == trainer.recipe and c.line > trainer.line]


def rows_in_page_order(trainers: dict[tuple[str, str], Command]) -> list[str]:
    return sorted({row for row, _ in trainers}, key=lambda row: min(c.line for (r, _), c in trainers.items() if r == row))


def parse_stand_ins(text: str) -> dict[str, StandIn]:
    if STAND_INS_START not in text or STAND_INS_END not in text:
        raise PageError(f"the page has no stand-in table between {STAND_INS_START} and {STAND_INS_END}")
    table = text.split(STAND_INS_START, 1)[1].split(STAND_INS_END, 1)[0]
    stand_ins: dict[str, StandIn] = {}
    for line in table.strip().splitlines()[2:]:  # after the header row and the |---| row
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[0])
        if not names:
            raise PageError(f"stand-in row without a `name`: {line}")
        name = names[0]
        given = re.findall(r"`([^`]+)`", cells[1]) if len(cells) > 1 else []
        if not given:
            stand_ins[name] = StandIn(name)
            continue
        value = given[0]
        sliced = SLICE.match(value)
        if sliced:
            stand_ins[name] = StandIn(name, sliced.group("path"), int(sliced.group("start") or 0),
                                      int(sliced.group("stop")) if sliced.group("stop") else None)
        elif "/" in value:
            stand_ins[name] = StandIn(name, value)
        else:
            stand_ins[name] = StandIn(name, literal=value)
    return stand_ins


def read_page(path: str | Path) -> tuple[list[Command], dict[str, StandIn]]:
    text = Path(path).read_text(encoding="utf-8")
    return parse_commands(text), parse_stand_ins(text)


def load_stand_in(shared_data: Path, stand_in: StandIn) -> str:
    """The stand-in's text (sliced when the page says so), newlines as \\n as Python reads text files."""
    text = (shared_data / stand_in.path).read_text(encoding="utf-8")
    return text[stand_in.start or 0: stand_in.stop]
