"""Throughput of the speech-text core (scrubber + segmenter), next to peers when installed.

Run: ``uv run python benchmarks/text_speed.py [--runs 7] [--pysbd-runs 3]``

Prints, for a 50,000-character mixed English/Chinese/markdown reply fed in 4-character
deltas: characters (and UTF-8 bytes) per second and microseconds per delta for
``Scrubber`` + ``Segmenter``; the same for pySBD re-run on the pending buffer after every
delta, and for stream2sentence when it is importable; then the time for 10, 20 and 40 KB
with no punctuation at all (linear growth means the time doubles with the size).
Figures are medians over several runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator

from bridge.text import Scrubber, Segmenter

DELTA = 4
SIZE = 50_000

_ENGLISH = """\
Thanks for the question! Streaming speech works best when the text is cut into short, \
natural pieces. Dr. Smith of Acme Inc. measured it at 10:30 a.m. on Jan. 5, and the median \
latency fell from 1.8 s to 0.42 s (version 2.1.4 of the library). The U.S. team agreed. \
You can read the details at https://www.example.com/reports/latency?id=42 or write to \
jane.doe@example.com for the raw data, e.g. the CSV files. Prices start at $29.99 per \
month; larger plans cost $1,250.00. "It is fast," she said. "Faster than we hoped." \
Wait... is that all? No. There is more to it than that!
"""

_CHINESE = """\
你好！很高兴为你解答这个问题。流式语音合成的关键在于尽早开始说话，同时保持自然的停顿。\
我们在测试中发现，首句延迟从一点八秒降到了零点四二秒。今天天气不错，我们去公园散步吧！\
好的。你觉得怎么样？这个方案使用了Python 3.11和大约200行代码，运行在2核的机器上。\
他说：“这比我们预想的还要快。”然后大家都笑了……
"""

_MARKDOWN = """\
## How to set it up

Here are the **three steps** you need:

1. **Install** the package: run `pip install bridge` in a fresh environment.
2. **Configure** the voice — see [the documentation](https://docs.example.com/voice(1)).
3. *Start* the server and open `http://localhost:8000` in your browser 🎉.

```python
from bridge import speak
speak("hello")  # prints nothing
```

| Option | Default | Meaning |
|---|---|---|
| `max_chars` | 300 | longest segment |
| `min_chars` | 16 | shortest later segment |

> **Note:** snake_case names, paths like /usr/local/bin and sums like 2*3 stay as they are.

- First bullet with a [link](https://example.org/a) and some *emphasis*.
- Second bullet ✅ done.

---
<think>This reasoning block is never spoken.</think>
"""


def corpus(size: int = SIZE) -> str:
    """Mixed English, Chinese and markdown, repeated and cut to ``size`` characters."""
    base = "\n".join((_ENGLISH, _CHINESE, _MARKDOWN, _CHINESE, _ENGLISH))
    return (base * (size // len(base) + 1))[:size]


def unpunctuated(size: int) -> str:
    """English words and Chinese characters with no punctuation and no newlines."""
    base = "streaming speech needs a maximum length 因为没有标点的文本 must still be cut somewhere "
    return (base * (size // len(base) + 1))[:size]


def deltas(text: str, size: int = DELTA) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def run_bridge(parts: list[str]) -> int:
    scrubber = Scrubber()
    segmenter = Segmenter()
    count = 0
    for part in parts:
        count += len(segmenter.feed(scrubber.feed(part)))
    count += len(segmenter.feed(scrubber.flush()))
    count += len(segmenter.flush())
    return count


def run_segmenter_only(parts: list[str]) -> int:
    segmenter = Segmenter()
    count = 0
    for part in parts:
        count += len(segmenter.feed(part))
    return count + len(segmenter.flush())


def make_pysbd() -> Callable[[list[str]], int] | None:
    try:
        import pysbd
    except ImportError:
        return None
    seg = pysbd.Segmenter(language="en", clean=False)

    def run(parts: list[str]) -> int:
        buffer = ""
        count = 0
        for part in parts:
            buffer += part
            sentences = seg.segment(buffer)
            if len(sentences) > 1:
                count += len(sentences) - 1
                buffer = sentences[-1]
        return count + (1 if buffer.strip() else 0)

    return run


def make_stream2sentence() -> Callable[[list[str]], int] | None:
    try:
        from stream2sentence import generate_sentences  # type: ignore[import-not-found]
    except ImportError:
        return None

    def run(parts: list[str]) -> int:
        def source() -> Iterator[str]:
            yield from parts

        return sum(1 for _ in generate_sentences(source()))

    return run


def timed(fn: Callable[[list[str]], int], parts: list[str], runs: int) -> tuple[float, int]:
    """Median wall time over ``runs`` and the number of segments produced."""
    times = []
    count = 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn(parts)
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def report(name: str, seconds: float, text: str, parts: int, count: int) -> None:
    chars = len(text) / seconds
    utf8 = len(text.encode("utf-8")) / seconds
    print(
        f"  {name:<34} {seconds * 1000:9.1f} ms  {chars / 1e6:6.2f} Mchar/s  "
        f"{utf8 / 1e6:6.2f} MB/s  {seconds / parts * 1e6:7.2f} us/delta  {count:5d} segments"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (median)")
    parser.add_argument("--pysbd-runs", type=int, default=3, help="runs for pySBD (slow)")
    args = parser.parse_args()

    text = corpus()
    parts = deltas(text)
    print(f"{len(text):,} characters of mixed English/Chinese/markdown in {DELTA}-character")
    print(f"deltas ({len(parts):,} deltas); medians of {args.runs} runs (pySBD {args.pysbd_runs}):")
    seconds, count = timed(run_bridge, parts, args.runs)
    report("bridge Scrubber + Segmenter", seconds, text, len(parts), count)
    seconds, count = timed(run_segmenter_only, parts, args.runs)
    report("bridge Segmenter alone", seconds, text, len(parts), count)
    pysbd_run = make_pysbd()
    if pysbd_run is None:
        print("  pysbd: not installed, skipped")
    else:
        seconds, count = timed(pysbd_run, parts, args.pysbd_runs)
        report("pysbd re-run per delta", seconds, text, len(parts), count)
    s2s = make_stream2sentence()
    if s2s is None:
        print("  stream2sentence: not installed, skipped")
    else:
        seconds, count = timed(s2s, parts, args.pysbd_runs)
        report("stream2sentence generate_sentences", seconds, text, len(parts), count)

    print(f"\nNo punctuation at all, {DELTA}-character deltas (linear: time doubles with size):")
    previous = 0.0
    for kb in (10, 20, 40):
        plain = unpunctuated(kb * 1000)
        plain_parts = deltas(plain)
        seconds, count = timed(run_bridge, plain_parts, args.runs)
        ratio = f"x{seconds / previous:4.2f}" if previous else "     "
        print(
            f"  {kb:3d} KB  {seconds * 1000:8.1f} ms  {ratio}  "
            f"{len(plain) / seconds / 1e6:6.2f} Mchar/s  {count:4d} segments"
        )
        previous = seconds


if __name__ == "__main__":
    main()
