"""The seed tutorials' recipes against lstmlab's defaults: every row of docs/seeds.md, trained twice.

For each row of docs/seeds.md (000-lstm128, 001-imdb-400, ...) this trains the
page's faithful command, then its recommended one, each with the same
wall-clock budget (--minutes; lstmlab counts its evaluations in it), one run at
a time. The commands come from the page itself (benchmarks/docs_commands.py
reads it; the page's top says how they are written): corpora the project has
no copy of become the page's stand-ins under ../shared/data, and the script
sets --out, --minutes and --no-progress. Language models also get
--eval-chars (default 20,000): both commands of a row then score the same
held-out characters, and a recipe with a window at every character (seeds 003
and 004) does not spend its budget scoring 60,000 windows. A recommended
command that serves several rows is trained once.

    flock /tmp/lstmlab-bench.lock .venv/bin/python benchmarks/seeds.py --out bench-results/seeds.json

Prints the planned total first, then one markdown table (system, recipe,
held-out score, training seconds, an 80-character sample) for docs/seeds.md's
<!-- seeds-table -->, and writes the JSON (machine, commands, every number).
--rows picks rows (names or seed prefixes: --rows 000,002-airline-rnn);
--dry-run prints the plan and the commands only.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docs_commands as page  # noqa: E402
from common import REPO, machine_info, markdown_table, write_json  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data"
PAGE = REPO / "docs" / "seeds.md"
# Seconds per run outside its --minutes budget, for the plan (measured on the development
# machine with a tiny budget, rounded up): start-up, reading and encoding the data and the last
# scoring; for language models the 80-character sample too; for recommended classifiers the
# TF-IDF + logistic regression baseline (about 40 s on the 14,640 tweets). Faithful classifier
# runs skip the baseline (--no-baseline): it depends only on the split, so one per row is enough.
OVERHEAD_S = {"language model": 15.0, "classifier faithful": 20.0, "classifier recommended": 60.0}
SAMPLE_CHARS = 80
SAMPLE_WORDS = 20  # word-level runs: generate this many words, then cut to SAMPLE_CHARS
SAMPLE_SEED = 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=1.75,
                   help="training budget of every run, faithful and recommended alike (default 1.75: the 25 runs "
                        "of the whole page are planned at 53 minutes; 2 would be 59)")
    p.add_argument("--rows", help="comma-separated rows or seed prefixes (default: every row on the page)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the commands, run nothing")
    p.add_argument("--out", default="bench-results/seeds.json", help="the JSON result (default bench-results/seeds.json)")
    p.add_argument("--runs-dir", help="keep the run folders here (default: a temporary folder, deleted at the end)")
    p.add_argument("--eval-chars", type=int, default=20_000,
                   help="held-out characters (words, at word level) each language model scores (default 20,000)")
    p.add_argument("--page", default=str(PAGE), help=f"the page to read (default {PAGE.relative_to(REPO)})")
    p.add_argument("--shared-data", default=str(SHARED_DATA), help=f"where the stand-ins live (default {SHARED_DATA})")
    p.add_argument("--threads", type=int, help="torch threads in every run (default: lstmlab's own, one per core)")
    return p.parse_args()


class Job:
    """One training run: a page command, the rows it serves, and what it produced."""

    def __init__(self, trainer: page.Command, rows: list[str], sample_from: Optional[page.Command]):
        self.trainer, self.rows, self.sample_from = trainer, rows, sample_from
        self.name = f"{rows[0]}-{trainer.recipe}"
        self.kind = "classifier" if trainer.is_classifier else "language model"
        self.overhead_s = OVERHEAD_S[self.kind if self.kind == "language model" else f"{self.kind} {trainer.recipe}"]
        self.args: tuple[str, ...] = ()
        self.result: dict = {}


def select_rows(all_rows: list[str], wanted: Optional[str]) -> list[str]:
    if not wanted:
        return all_rows
    chosen = []
    for item in (w.strip() for w in wanted.split(",") if w.strip()):
        matches = [r for r in all_rows if r == item or r.startswith(item + "-") or r.split("-")[0] == item]
        if not matches:
            sys.exit(f"--rows: no row {item!r} on the page; rows: {', '.join(all_rows)}")
        chosen += [m for m in matches if m not in chosen]
    return [r for r in all_rows if r in chosen]  # page order


def plan_jobs(commands: list[page.Command], rows: list[str]) -> list[Job]:
    trainers = page.training_commands(commands)
    jobs: dict[int, Job] = {}  # by page line: a recommended command shared by rows is one job
    for row in rows:
        for recipe in page.RECIPES:
            trainer = trainers[row, recipe]
            if trainer.line not in jobs:
                generate = next((c for c in page.follow_ups(commands, trainer) if c.args[0] == "generate"), None)
                jobs[trainer.line] = Job(trainer, [r for r in rows if trainers.get((r, recipe)) is trainer], generate)
    return sorted(jobs.values(), key=lambda job: (rows.index(job.rows[0]), page.RECIPES.index(job.trainer.recipe)))


def stand_in_args(args: tuple[str, ...], stand_ins: dict[str, page.StandIn], shared: Path, slices_dir: Path,
                  write: bool) -> tuple[str, ...]:
    """The page's names swapped for the stand-ins: a file under shared/data, a slice of one written
    into slices_dir (only when `write`: a dry run names it without making it), or a literal."""
    swapped = []
    for arg in args:
        stand_in = stand_ins.get(arg)
        if stand_in is None:
            swapped.append(arg)
        elif stand_in.literal:
            swapped.append(stand_in.literal)
        elif stand_in.path is None:
            sys.exit(f"{arg}: the page says it is made elsewhere; the benchmark cannot stand it in")
        elif stand_in.start is None and stand_in.stop is None:
            swapped.append(str(shared / stand_in.path))
        else:
            sliced = slices_dir / f"{Path(stand_in.path).stem}.{stand_in.start or 0}-{stand_in.stop or 'end'}.txt"
            if write and not sliced.exists():
                slices_dir.mkdir(parents=True, exist_ok=True)
                sliced.write_text(page.load_stand_in(shared, stand_in), encoding="utf-8")
            swapped.append(str(sliced))
    return tuple(swapped)


def lstmlab(threads: Optional[int]) -> list[str]:
    return [sys.executable, "-m", "lstmlab", *(["--threads", str(threads)] if threads else [])]


def run_logged(cmd: list[str], log: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as f:
        code = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT).returncode
    return code, time.perf_counter() - start


def language_model_result(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    validations = [r for r in rows if r.get("val_loss") is not None]
    best = min(validations, key=lambda r: r["val_loss"])
    level = config.get("data", {}).get("level", "char")
    return {"level": level, "unit": "nats/word" if level == "word" else "nats/char",
            "best_val_loss": best["val_loss"], "best_step": best["step"], "last_val_loss": validations[-1]["val_loss"],
            "steps": rows[-1]["step"], "train_seconds": rows[-1]["elapsed_s"]}


def classifier_result(run: Path) -> dict:
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    return {"accuracy": report["classifier"]["accuracy"], "macro_f1": report["classifier"]["macro_f1"],
            "majority": report["classifier"].get("majority_baseline"),
            "baseline_accuracy": (report.get("baseline") or {}).get("accuracy"),
            "steps": report["training"]["steps"], "stop_reason": report["training"]["stop_reason"],
            "train_seconds": report["training"]["seconds"], "examples": report.get("examples")}


def sample(job: Job, run: Path, threads: Optional[int], log: Path) -> tuple[Optional[str], list[str]]:
    """80 characters after the page's prompt, at the page's temperature (the first of a list)."""
    prompt = job.sample_from.option("--prompt") if job.sample_from else None
    temperature = job.sample_from.option("--temperature") if job.sample_from else None
    words = job.result.get("level") == "word"
    cmd = [*lstmlab(threads), "generate", str(run), "--length", str(SAMPLE_WORDS if words else SAMPLE_CHARS),
           "--seed", str(SAMPLE_SEED), *(["--prompt", prompt] if prompt else []),
           *(["--temperature", temperature.split(",")[0]] if temperature else [])]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    job.result["sample_seconds"] = round(time.perf_counter() - start, 1)
    if done.returncode != 0:
        return None, cmd
    text = done.stdout.rstrip("\n")  # generate ends its text with a newline
    for candidate in (prompt or "", (prompt or "").lower()):
        if candidate and text.startswith(candidate):
            text = text[len(candidate):]
            break
    return text[:SAMPLE_CHARS], cmd


def run_job(job: Job, args: argparse.Namespace, runs_dir: Path) -> None:
    run = runs_dir / job.name
    cmd = [*lstmlab(args.threads), *job.args]
    print(f"\n$ {shlex.join(['lstmlab', *job.args])}", flush=True)
    code, wall = run_logged(cmd, runs_dir / f"{job.name}.log")
    job.result = {"exit_code": code, "wall_seconds": round(wall, 1)}
    if code != 0:
        tail = (runs_dir / f"{job.name}.log").read_text(encoding="utf-8")[-1500:]
        print(f"{job.name}: exited {code} after {wall:.0f}s:\n{tail}", flush=True)
        return
    job.result.update(classifier_result(run) if job.kind == "classifier" else language_model_result(run))
    if job.kind == "language model":
        text, sample_cmd = sample(job, run, args.threads, runs_dir / f"{job.name}.sample.log")
        job.result.update(sample=text, sample_command=shlex.join(sample_cmd[2:]))
    print(f"{job.name}: {held_out(job)}, {job.result['train_seconds']:.0f}s training, {wall:.0f}s in all", flush=True)


def held_out(job: Job) -> str:
    r = job.result
    if r.get("exit_code"):
        return f"failed (exit {r['exit_code']})"
    if job.kind == "classifier":
        baseline = f" (TF-IDF {r['baseline_accuracy']:.1%})" if r.get("baseline_accuracy") is not None else ""
        return f"{r['accuracy']:.1%} accuracy{baseline}"
    return f"{r['best_val_loss']:.3f} {r['unit']}"


def table_cell(text: Optional[str]) -> str:
    if text is None:
        return ""
    shown = text.replace("\r", "").replace("\n", " ⏎ ").replace("|", "\\|").replace("`", "'")
    return f"`{shown}`" if shown.strip() else ""


def main() -> None:
    args = parse_args()
    commands, stand_ins = page.read_page(args.page)
    all_rows = page.rows_in_page_order(page.training_commands(commands))
    rows = select_rows(all_rows, args.rows)
    jobs = plan_jobs(commands, rows)

    planned = sum(args.minutes * 60 + job.overhead_s for job in jobs)
    print(f"{len(rows)} rows, {len(jobs)} runs of {args.minutes:g} minutes "
          f"({sum(j.kind == 'language model' for j in jobs)} language models, "
          f"{sum(j.kind == 'classifier' for j in jobs)} classifiers); planned total {planned / 60:.1f} minutes: "
          f"{len(jobs)} x {args.minutes:g} minutes of budget plus {sum(j.overhead_s for j in jobs) / 60:.1f} "
          f"minutes outside the budgets (start-up, data, last scoring, samples, baselines)", flush=True)

    runs_dir = Path(args.runs_dir).resolve() if args.runs_dir else Path(tempfile.mkdtemp(prefix="lstmlab-seeds-"))
    shared = Path(args.shared_data)
    for job in jobs:
        swapped = stand_in_args(job.trainer.args, stand_ins, shared, runs_dir / "stand-ins", write=not args.dry_run)
        swapped = page.with_option(swapped, "--out", str(runs_dir / job.name))
        swapped = page.with_option(swapped, "--minutes", f"{args.minutes:g}")
        if job.kind == "language model":
            swapped = page.with_option(swapped, "--eval-chars", str(args.eval_chars))
        elif job.trainer.recipe == "faithful":
            swapped = (*swapped, "--no-baseline")
        job.args = (*swapped, "--no-progress")
    if args.dry_run:
        for job in jobs:
            print(f"\n# {' '.join(job.rows)} {job.trainer.recipe} (docs/seeds.md line {job.trainer.line})")
            print(shlex.join(["lstmlab", *job.args]))
        if not args.runs_dir:
            shutil.rmtree(runs_dir)
        return
    if any((runs_dir / job.name).exists() for job in jobs):
        sys.exit(f"{runs_dir} already holds some of these runs; choose another --runs-dir")
    runs_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    for job in jobs:
        run_job(job, args, runs_dir)
    total = time.perf_counter() - start

    header = ["system", "recipe", "held-out", "training s", "sample"]
    table = []
    for row in rows:
        for job in jobs:
            if row in job.rows:
                seconds = job.result.get("train_seconds")
                table.append([f"`{row}`", job.trainer.recipe, held_out(job),
                              f"{seconds:.0f}" if seconds is not None else "", table_cell(job.result.get("sample"))])
    print(f"\n{markdown_table(header, table)}\n\n{len(jobs)} runs in {total / 60:.1f} minutes "
          f"(planned {planned / 60:.1f}); budget {args.minutes:g} minutes per run", flush=True)

    write_json(args.out, {
        "benchmark": "seeds", "machine": machine_info(), "page": str(args.page), "minutes": args.minutes,
        "eval_chars": args.eval_chars, "planned_seconds": round(planned), "total_seconds": round(total, 1),
        "runs": [{"rows": job.rows, "recipe": job.trainer.recipe, "kind": job.kind, "page_line": job.trainer.line,
                  "page_command": job.trainer.text, "command": shlex.join(["lstmlab", *job.args]), **job.result}
                 for job in jobs],
        "table": {"header": header, "rows": table},
    })
    print(f"wrote {args.out}")
    if not args.runs_dir:
        shutil.rmtree(runs_dir)


if __name__ == "__main__":
    main()
