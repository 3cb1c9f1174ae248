"""Mutation testing of one area of bridge with mutmut (dev group; not part of CI's default run).

    uv run python benchmarks/mutation.py heard            # run, then print the counts
    uv run python benchmarks/mutation.py heard --results  # counts and survivors of the last run
    uv run python benchmarks/mutation.py --list
    uv run python benchmarks/mutation.py pipeline "bridge.pipeline.text_stage.*" \
        --tests tests/test_turn_parts.py --timeout-multiplier 4   # some mutants, fewer tests
    uv run python benchmarks/mutation.py scrubber "bridge.text._output.*" --work scrubber-after
                                                    # in another copy: the first one is kept

mutmut reads one ``[tool.mutmut]`` table from the ``pyproject.toml`` of the directory it runs
in, so each area runs in its own copy of the working tree (``.mutation/AREA``, git-ignored),
whose ``pyproject.toml`` gets the area's table. The copy is kept: ``cd .mutation/AREA &&
uv run --project ../.. mutmut show NAME`` shows one mutant. Which mutants survive, and why the
ones left are equivalent, is written down in ``docs/mutation/AREA.md``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Area:
    sources: tuple[str, ...]  # files mutated
    tests: tuple[str, ...]  # the test selection (pytest arguments)
    # mutmut's timeout_multiplier when --timeout-multiplier is not given (None: mutmut's 15)
    timeout_multiplier: float | None = None


AREAS: dict[str, Area] = {
    # The heard-text bookkeeping (pure).
    "heard": Area(
        sources=("bridge/core/heard.py", "bridge/core/pace.py"),
        tests=(
            "tests/test_heard.py",
            "tests/test_heard_timing.py",
            "tests/test_scripts.py",
            "tests/test_voice_pace.py",
        ),
    ),
    # The incremental segmenter and its cut rules.
    "segmenter": Area(
        sources=(
            "bridge/text/segmenter.py",
            "bridge/text/_cuts.py",
            "bridge/text/_rules.py",
            "bridge/text/_chars.py",
        ),
        tests=(
            "tests/test_text_segmenter.py",
            "tests/test_text_segmenter_rules.py",
            "tests/test_text_rules.py",
            "tests/test_text_cuts.py",
            "tests/test_text_chars.py",
            "tests/test_text_golden.py",
            "tests/test_text_invariants.py",
            "tests/test_scripts.py",
        ),
    ),
    # The scrubber (markdown, emoji, code) and the lexicon.
    "scrubber": Area(
        sources=(
            "bridge/text/scrubber.py",
            "bridge/text/_markdown.py",
            "bridge/text/_output.py",
            "bridge/text/lexicon.py",
            "bridge/text/model.py",
            "bridge/text/speech.py",
        ),
        tests=(
            "tests/test_text_scrubber.py",
            "tests/test_text_scrubber_math.py",
            "tests/test_text_scrubber_inline.py",
            # the scrubber's math, footnote, think and emoji rules are tested there
            "tests/test_text_rules.py",
            "tests/test_text_lexicon.py",
            "tests/test_text_options.py",
            "tests/test_text_markdown.py",
            "tests/test_text_speech.py",
            "tests/test_text_oracle.py",
            "tests/test_text_invariants.py",
        ),
        # Timeouts (infinite loops in the scanners) dominated its first run at mutmut's 15; the
        # covering tests of one function take a few seconds, so 3 still leaves a wide margin.
        timeout_multiplier=3.0,
    ),
    # The turn pipeline (text stage, speech stage, bookkeeping).
    "pipeline": Area(
        sources=("bridge/pipeline",),
        tests=(
            "tests/test_turn_parts.py",
            "tests/test_pipeline_wiring.py",
            "tests/test_speech_faults.py",
            "tests/test_pipeline.py",
            "tests/test_handoff.py",
            "tests/test_assistant.py",
        ),
    ),
    # The server's admission limits (token bucket, message rules, access).
    "limits": Area(
        sources=("bridge/server/limits.py",),
        tests=(
            "tests/test_server_limit_rules.py",
            "tests/test_server_protocol.py",
            "tests/test_server_limits.py",
        ),
    ),
}

_TABLE = re.compile(r"^\[tool\.mutmut\]\n(?:(?!^\[).*\n?)*", re.MULTILINE)
_COUNT = re.compile(r"^\s*(\S+): (killed|survived|timeout|no tests|suspicious|skipped|.+)$")


def _toml_list(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _prepare(work: Path, area: Area, tests: tuple[str, ...], multiplier: float | None) -> Path:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for entry in ("bridge", "tests", "benchmarks", "prompts", "pyproject.toml", "uv.lock"):
        src = ROOT / entry
        if src.is_dir():
            shutil.copytree(src, work / entry, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, work / entry)
    table = (
        "[tool.mutmut]\n"
        f"source_paths = {_toml_list(area.sources)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        + (f"timeout_multiplier = {multiplier}\n" if multiplier is not None else "")
        + 'also_copy = ["bridge", "tests", "benchmarks", "prompts"]\n\n'
    )
    project = (work / "pyproject.toml").read_text(encoding="utf-8")
    project = _TABLE.sub("", project) + "\n" + table
    (work / "pyproject.toml").write_text(project, encoding="utf-8")
    return work


def _results(work: Path) -> dict[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    by_status: dict[str, list[str]] = {}
    for line in out.splitlines():
        match = _COUNT.match(line)
        if match:
            by_status.setdefault(match.group(2), []).append(match.group(1))
    return by_status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("area", nargs="?", choices=sorted(AREAS))
    parser.add_argument(
        "mutants", nargs="*", help="mutant name globs (mutmut's), e.g. 'bridge.pipeline.turn.*'"
    )
    parser.add_argument("--tests", nargs="+", help="a smaller test selection than the area's")
    parser.add_argument(
        "--timeout-multiplier",
        type=float,
        help="mutmut's timeout_multiplier (default 15): a timeout (an infinite loop) is declared "
        "after (estimated test time + 1 s) x this, in wall time",
    )
    parser.add_argument("--list", action="store_true", help="list the areas")
    parser.add_argument("--results", action="store_true", help="only read the last run")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--work", help="the copy's name under .mutation/ (default: the area)")
    args = parser.parse_args(argv)
    if args.tests:
        # ``--tests a b`` also takes the mutant globs written after it: a glob names a module
        # (``bridge.…``), a test path does not.
        globs = [t for t in args.tests if t.startswith("bridge.")]
        args.tests = [t for t in args.tests if not t.startswith("bridge.")]
        args.mutants = [*args.mutants, *globs]
    if args.list or args.area is None:
        for name, area in AREAS.items():
            print(f"{name}: {' '.join(area.sources)}  (tests: {' '.join(area.tests)})")
        return 0
    area = AREAS[args.area]
    work = ROOT / ".mutation" / (args.work or args.area)
    if not args.results:
        tests = tuple(args.tests) if args.tests else area.tests
        multiplier = args.timeout_multiplier or area.timeout_multiplier
        work = _prepare(work, area, tests, multiplier)
        started = time.monotonic()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "mutmut",
                "run",
                "--max-children",
                str(args.max_children),
                *args.mutants,
            ],
            cwd=work,
            check=False,
        )
        print(f"mutmut run: exit {run.returncode}, {time.monotonic() - started:.0f} s")
    elif not work.exists():
        print(f"no run of {args.area!r} yet", file=sys.stderr)
        return 2
    by_status = _results(work)
    counts = {status: len(names) for status, names in sorted(by_status.items())}
    if args.json:
        print(json.dumps({"area": args.area, "counts": counts, "mutants": by_status}, indent=1))
    else:
        print(f"{args.area}: {sum(counts.values())} mutants: {counts}")
        for status in ("survived", "timeout", "suspicious", "no tests"):
            for mutant in by_status.get(status, []):
                print(f"  {status}: {mutant}")
        print(f"work directory: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
