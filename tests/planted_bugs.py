"""Plant each bug of issue 11 in turn and check that the tests named for it fail.

Not collected by pytest (no ``test_`` prefix): run ``uv run python tests/planted_bugs.py``
(optionally with names of bugs to plant). Each bug is a one-line change to a source file; the
file is restored afterwards, also on Ctrl-C. Prints one line per bug: caught or MISSED, and
by which test files. docs/planted-bugs.md lists the bugs and the tests that catch them.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bug:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = (
    Bug(
        "billing slack +1",
        "bridge/core/heard.py",
        "slack = 1.0 + sum(",
        "slack = 2.0 + sum(",
        ("tests/test_heard.py",),
    ),
    Bug(
        "billing slack -1",
        "bridge/core/heard.py",
        "slack = 1.0 + sum(",
        "slack = 0.0 + sum(",
        ("tests/test_heard.py",),
    ),
    Bug(
        "Latin/CJK word boundary weakened",
        "bridge/text/_chars.py",
        "if left.isspace() or right.isspace() or is_spaceless(left) or is_spaceless(right):",
        "if left.isspace() or right.isspace():",
        ("tests/test_heard.py", "tests/test_scripts.py"),
    ),
    Bug(
        "abandoned response counted as fully heard",
        "bridge/core/heard.py",
        "if left >= resp.samples and resp.done and not resp.abandoned:",
        "if left >= resp.samples and resp.done:",
        ("tests/test_heard.py",),
    ),
    Bug(
        "resume position after a drop shifted",
        "bridge/core/heard.py",
        "self._pos = self.bounds[undelivered[0]] if undelivered else self.total",
        "self._pos = self.bounds[undelivered[0] + 1] if undelivered else self.total",
        ("tests/test_heard.py",),
    ),
    Bug(
        "speakable_join: Chinese/English space rule",
        "bridge/text/_chars.py",
        'return "" if is_spaceless(left) or is_spaceless(right) else " "',
        'return "" if is_spaceless(left) and is_spaceless(right) else " "',
        ("tests/test_heard.py", "tests/test_scripts.py"),
    ),
    Bug(
        "trailing space between appends removed",
        "bridge/text/_chars.py",
        'return text + join_space(text[-1:], "a")',
        "return text",
        ("tests/test_scripts.py", "tests/test_timing.py"),
    ),
    Bug(
        "segmenter: Japanese quote rule",
        "bridge/text/segmenter.py",
        'if cjk and e > r and ch in "とっ":',
        'if cjk and e > r and ch in "と":',
        ("tests/test_text_segmenter.py", "tests/test_text_rules.py"),
    ),
    Bug(
        "segmenter: abbreviation look-ahead limit",
        "bridge/text/segmenter.py",
        "_MAX_WORD = 16",
        "_MAX_WORD = 12",
        ("tests/test_text_segmenter.py", "tests/test_text_rules.py"),
    ),
    Bug(
        "token bucket refills past its cap",
        "bridge/server/limits.py",
        "self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)",
        "self.tokens = self.tokens + (now - self.updated) * self.rate",
        (
            "tests/test_server_limit_rules.py",
            "tests/test_server_protocol.py",
            "tests/test_server_limits.py",
        ),
    ),
    Bug(
        "per-segment append latency recorded on the previous segment",
        "bridge/pipeline/speech_stage.py",
        "self._segments.appended(index, ",
        "self._segments.appended(max(0, index - 1), ",
        ("tests/test_timing.py",),
    ),
)


def run(bug: Bug) -> tuple[bool, str]:
    path = ROOT / bug.path
    original = path.read_text(encoding="utf-8")
    if original.count(bug.old) != 1:
        return False, f"cannot plant: {bug.old!r} is not once in {bug.path}"
    try:
        path.write_text(original.replace(bug.old, bug.new), encoding="utf-8")
        proc = subprocess.run(
            ["uv", "run", "pytest", "-q", "-x", "-p", "no:cacheprovider", *bug.tests],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        path.write_text(original, encoding="utf-8")
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return proc.returncode != 0, failed[0] if failed else proc.stdout.strip().splitlines()[-1]


def main(argv: list[str]) -> int:
    missed = 0
    for bug in BUGS:
        if argv and not any(a in bug.name for a in argv):
            continue
        caught, detail = run(bug)
        missed += not caught
        print(f"{'caught' if caught else 'MISSED'}: {bug.name}: {detail}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
