"""The docs cannot drift from the code: the CLI page is regenerated and compared."""

from pathlib import Path

from lstmlab.cli import COMMANDS, help_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_up_to_date():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == help_markdown(), "run `make docs`"


def test_readme_opens_with_the_two_commands_and_names_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head = readme[:1500]
    assert "make demo" in head and "make test" in head
    for command in COMMANDS:
        assert f"lstmlab {command}" in readme, command
    assert "docs/cli.md" in readme


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
