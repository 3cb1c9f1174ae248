"""``HeardTracker``'s searches (the snapping slack of ``response_done``, the span search of
``timings``) give what a scan of every boundary and every span gives, on random turns with
drops and re-sends: they are bisections (a long text's result is built in O(n log n), not
O(n^2)), and must not change a single timing.

The reference below is the plain scan: for each segment, the latest span that holds its start
(and whose audio arrived), then the latest one from there that holds its end; the slack is one
unit per boundary strictly inside the billed span.
"""

from __future__ import annotations

import bisect

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.heard import HeardTracker, _Response
from bridge.core.result import SegmentTiming

RATE = 1000


class _ScanningTracker(HeardTracker):
    """``HeardTracker`` with the plain scans instead of the bisections."""

    __slots__ = ()

    def response_done(self, rid: str, characters: int | None) -> None:
        resp = self._response(rid)
        resp.done = True
        resp.billed = characters
        if self.commit_mode or characters is None:
            end = self._next_boundary(resp.start)
        else:
            end = resp.start + characters
            i = bisect.bisect_left(self.bounds, end)
            near = [b for b in self.bounds[max(0, i - 1) : i + 1] if b > resp.start]
            slack = 1.0 + sum(1 for b in self.bounds if resp.start < b < end)
            best = min(near, key=lambda b: abs(b - end), default=end)
            if abs(best - end) <= slack:
                end = best
        resp.end = min(end, self.total)
        self._pos = resp.end
        self._delivered = max(self._delivered, resp.end)

    def timings(self, sample_rate: int) -> list[SegmentTiming | None]:
        spans: list[tuple[_Response, int, float, int, bool]] = []
        offset = 0
        for resp in self.responses:
            if resp.samples > 0:
                end = resp.end if resp.end is not None else self._next_boundary(resp.start)
                confirmed = resp.done and not resp.abandoned
                total = resp.samples
                if not confirmed:
                    total = max(total, self._expected_samples(resp.start, end, sample_rate))
                spans.append((resp, offset, end, total, confirmed))
            offset += resp.samples

        def at(resp: _Response, off: int, end: float, total: int, unit: float) -> int:
            width = end - resp.start
            return off + (round((unit - resp.start) / width * total) if width > 0 else 0)

        out: list[SegmentTiming | None] = []
        for index in range(len(self.texts)):
            lo, hi = self.bounds[index], self.bounds[index + 1]
            start: tuple[int, bool, int] | None = None
            for k in range(len(spans) - 1, -1, -1):
                resp, off, end, total, _ = spans[k]
                if resp.start - 1e-9 <= lo < end - 1e-9:
                    sample = at(resp, off, end, total, lo)
                    if sample < off + resp.samples:
                        start = (sample, abs(lo - resp.start) < 1e-9, k)
                        break
            if start is None:
                out.append(None)
                continue
            finish: tuple[int, bool] | None = None
            for k in range(len(spans) - 1, start[2] - 1, -1):
                resp, off, end, total, confirmed = spans[k]
                if resp.start + 1e-9 < hi <= end + 1e-9:
                    sample = at(resp, off, end, total, hi)
                    if not resp.abandoned or sample <= off + resp.samples:
                        finish = (sample, confirmed and abs(hi - end) < 1e-9)
                        break
            if finish is None:
                guess = start[0] + self._expected_samples(lo, hi, sample_rate)
                finish = (guess, False)
            out.append(
                SegmentTiming(
                    index=index,
                    start=start[0],
                    end=max(start[0], finish[0]),
                    estimated=not (start[1] and finish[1]),
                )
            )
        return out


_TEXTS = ("Hi.", "A", "Hello there.", "How are you today?", "你好。", "", " ", "Fine, thanks.")

# One step of a turn: append a segment, or a response's audio then (maybe) its end with some
# billed characters, or a dropped connection.
_STEP = st.one_of(
    st.tuples(st.just("append"), st.sampled_from(_TEXTS)),
    st.tuples(
        st.just("respond"),
        st.integers(0, 3000),  # samples
        st.one_of(st.none(), st.integers(0, 40)),  # billed characters (None: not reported)
        st.booleans(),  # finished (else left running)
    ),
    st.tuples(st.just("drop")),
)


def _play(tracker: HeardTracker, steps: list[tuple[object, ...]]) -> list[object]:
    """Apply ``steps``; the observable state after each: ends of responses and timings."""
    seen: list[object] = []
    open_rid: str | None = None
    for n, step in enumerate(steps):
        if step[0] == "append":
            tracker.appended(str(step[1]))
        elif step[0] == "respond":
            _, samples, billed, finished = step
            rid = open_rid or f"r{n}"
            tracker.response_started(rid)
            assert isinstance(samples, int)
            tracker.audio(rid, samples)
            open_rid = rid
            if finished:
                tracker.response_done(rid, billed if isinstance(billed, int) else None)
                open_rid = None
        else:
            tracker.forget_responses_after_drop()
            open_rid = None
        seen.append([(r.rid, r.start, r.end) for r in tracker.responses])
        seen.append(tracker.timings(RATE))
    return seen


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(_STEP, max_size=30), commit_mode=st.booleans())
def test_the_bisections_match_a_scan_of_every_span(
    steps: list[tuple[object, ...]], commit_mode: bool
) -> None:
    fast = _play(HeardTracker(commit_mode=commit_mode), steps)
    plain = _play(_ScanningTracker(commit_mode=commit_mode), steps)
    assert fast == plain


def test_a_long_turn_is_timed_segment_by_segment() -> None:
    # 2,000 segments, each its own response: every segment ends where the next starts.
    t = HeardTracker()
    for i in range(2000):
        t.appended(f"Sentence {i}.")
    for i in range(2000):
        rid = f"r{i}"
        t.response_started(rid)
        t.audio(rid, 100)
        t.response_done(rid, len(f"Sentence {i}.") + (1 if i < 1999 else 0))
    timings = t.timings(RATE)
    assert [(x.start, x.end) for x in timings if x is not None] == [
        (100 * i, 100 * (i + 1)) for i in range(2000)
    ]
    assert not any(x is None or x.estimated for x in timings)
