"""What the listener heard: map audio responses to the text they speak (pure).

The pipeline appends segments to a TTS session and receives audio in responses. The appended
text is treated as one stream measured in billable characters (the unit the server reports per
response in ``usage.characters``). Each response covers a contiguous range of that stream:

- in ``commit`` mode every segment is committed alone, so response k covers segment k exactly;
- in ``server_commit`` mode the server decides where responses end; each ``response.done``
  advances the position by its billed characters, snapped to a segment boundary when within
  one character per segment of it (the server drops whitespace we append between segments).
  Without usage figures, one response covers one segment.

Within the response where playback stopped, the heard position is estimated by the fraction
of its audio that was played (in ``server_commit`` mode less one unit: the response may start
with the space between two appends); the heard text is cut back to a word boundary (any character
for Chinese and Japanese; a space in Latin, Korean and Thai text, see ``bridge.text._chars``).
Responses abandoned by a dropped connection count as heard only as far as they were played;
their text is spoken again after the reconnect.

The same mapping read the other way gives caption timing (``HeardTracker.timings``): where
each segment's audio starts and ends in the samples received, exact at confirmed response
boundaries (every segment in ``commit`` mode), interpolated by billed characters inside a
``server_commit`` response that spoke several segments.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from bridge.core.pace import LATIN_SECONDS_PER_CHAR, PaceSums, estimate_seconds
from bridge.core.result import SegmentTiming
from bridge.qwen.protocol import billable_characters
from bridge.text._chars import is_word_boundary, join_space

__all__ = ["HeardTracker", "estimate_prefix", "estimate_seconds", "speakable_join"]


def estimate_prefix(text: str, fraction: float) -> str:
    """The part of ``text`` heard when ``fraction`` of its audio played, at a word boundary."""
    if fraction <= 0 or not text:
        return ""
    if fraction >= 1:
        return text
    return _word_prefix(text, int(len(text) * fraction))


def _word_prefix(text: str, cut: int) -> str:
    """``text[:cut]`` backed off to the last whole word (CJK: any character)."""
    if cut <= 0:
        return ""
    if cut >= len(text):
        return text
    while cut > 0 and not is_word_boundary(text, cut):
        cut -= 1
    return text[:cut].rstrip()


@dataclass(slots=True)
class _Response:
    rid: str
    start: float  # position in the billable stream
    end: float | None = None  # known when done
    samples: int = 0  # samples handed to the sink
    done: bool = False
    abandoned: bool = False  # its connection dropped before it finished
    billed: int | None = None  # the characters the server billed for it
    # Its billed units and their text's estimated seconds, for the pace (once it is done).
    paced: tuple[float, float] | None = None


@dataclass(slots=True)
class HeardTracker:
    """Bookkeeping of one turn's segments and responses (no I/O, no clock)."""

    commit_mode: bool = False
    speech_rate: float = 1.0  # the session's: scales the text-based length estimate
    # What earlier turns showed of the voice's pace (``bridge.core.pace.VoicePace``).
    prior: PaceSums = field(default_factory=PaceSums)
    texts: list[str] = field(default_factory=list)
    bounds: list[float] = field(default_factory=lambda: [0.0])  # cumulative units per segment
    responses: list[_Response] = field(default_factory=list)
    _by_id: dict[str, _Response] = field(default_factory=dict)
    _pos: float = 0.0  # where the next response starts
    _delivered: float = 0.0  # everything before this has fully arrived

    # --- recording ----------------------------------------------------------------------

    def appended(self, text: str, sent: str | None = None) -> int:
        """Record a newly appended segment (``text``; ``sent``: as sent, with the space after
        it, which the speech service speaks or bills with it); returns its index."""
        self.texts.append(text)
        self.bounds.append(self.bounds[-1] + billable_characters(text if sent is None else sent))
        return len(self.texts) - 1

    @property
    def total(self) -> float:
        return self.bounds[-1]

    def _response(self, rid: str) -> _Response:
        resp = self._by_id.get(rid)
        if resp is None:
            resp = _Response(rid, self._pos)
            self._by_id[rid] = resp
            self.responses.append(resp)
        return resp

    def response_started(self, rid: str) -> None:
        self._response(rid)

    def audio(self, rid: str, samples: int) -> None:
        self._response(rid).samples += samples

    def _next_boundary(self, pos: float) -> float:
        i = bisect.bisect_right(self.bounds, pos + 1e-9)
        return self.bounds[i] if i < len(self.bounds) else self.total

    def response_done(self, rid: str, characters: int | None) -> None:
        resp = self._response(rid)
        resp.done = True
        resp.billed = characters
        if self.commit_mode or characters is None:
            end = self._next_boundary(resp.start)
        else:
            end = resp.start + characters
            # Snap to the nearest segment boundary within the whitespace slack.
            i = bisect.bisect_left(self.bounds, end)
            near = [b for b in self.bounds[max(0, i - 1) : i + 1] if b > resp.start]
            # One unit per segment boundary strictly inside the span (bounds are sorted).
            inside = bisect.bisect_left(self.bounds, end) - bisect.bisect_right(
                self.bounds, resp.start
            )
            slack = 1.0 + max(0, inside)
            best = min(near, key=lambda b: abs(b - end), default=end)
            if abs(best - end) <= slack:
                end = best
        resp.end = min(end, self.total)
        self._pos = resp.end
        self._delivered = max(self._delivered, resp.end)

    # --- after a dropped connection -----------------------------------------------------

    def undelivered(self) -> list[int]:
        """Indices of segments whose audio did not fully arrive (to re-send)."""
        return [i for i in range(len(self.texts)) if self.bounds[i + 1] > self._delivered + 1e-9]

    def forget_responses_after_drop(self) -> None:
        """Unfinished responses will never finish: mark them abandoned and restart the
        position at the first undelivered segment, which is re-sent whole."""
        for resp in self.responses:
            if not resp.done:
                resp.abandoned = True
                resp.done = True
                resp.end = self._next_boundary(resp.start)
        undelivered = self.undelivered()
        self._pos = self.bounds[undelivered[0]] if undelivered else self.total
        self._delivered = self._pos

    # --- reading --------------------------------------------------------------------------

    def unsettled(self, samples_played: int) -> str | None:
        """The id of the response in which playback stopped after ``samples_played`` samples,
        when its end has not arrived yet (so the part played can only be estimated until it
        does); ``None`` when playback stopped in a finished response or at its end."""
        left = samples_played
        for resp in self.responses:
            if resp.samples <= 0:
                continue
            if left <= 0:
                return None
            if not resp.done:
                return resp.rid
            if left < resp.samples:
                return None
            left -= resp.samples
        return None

    def _span_seconds(self, start: float, end: float) -> float:
        """The estimated speaking time of billable units ``start`` to ``end`` (at speech rate
        1): of every character in the span, not cut at word boundaries, and of the units
        beyond a segment's text (the space sent after it) as spaces."""
        chars: list[str] = []
        covered = 0.0
        # From the segment holding ``start`` (those before it end at or before it).
        first = max(0, bisect.bisect_right(self.bounds, start + 1e-9) - 2)
        for i in range(first, len(self.texts)):
            text = self.texts[i]
            lo, hi = self.bounds[i], self.bounds[i + 1]
            if hi <= start + 1e-9:
                continue
            if lo >= end - 1e-9:
                break
            acc = lo
            for ch in text:
                step = billable_characters(ch)
                if acc + step > end + 1e-9:
                    break
                if acc >= start - 1e-9:
                    chars.append(ch)
                    covered += step
                acc += step
        spaces = max(0.0, end - start - covered)
        return estimate_seconds("".join(chars)) + spaces * LATIN_SECONDS_PER_CHAR

    def pace_sums(self, sample_rate: int) -> PaceSums:
        """This turn's finished responses, for the pace (``bridge.core.pace``): over the
        characters billed for each, not its span snapped to segment boundaries, which may
        count a space it did not speak. In seconds at speech rate 1 (the audio's times the
        session's rate), so what a ``VoicePace`` keeps holds when the rate changes."""
        sums = PaceSums()
        for resp in self.responses:
            if resp.done and not resp.abandoned and resp.end is not None and resp.samples > 0:
                if resp.paced is None:  # its span is settled: worked out once
                    units = resp.billed if resp.billed else resp.end - resp.start
                    seconds = self._span_seconds(resp.start, resp.start + units)
                    resp.paced = (units, seconds)
                sums = sums.add(resp.samples / sample_rate * self.speech_rate, *resp.paced)
        return sums

    def _pace(self, start: float, end: float, sample_rate: int) -> float:
        """Samples per billed unit of the text from ``start`` to ``end``, by the pace of
        earlier turns and of this one's finished responses (``bridge.core.pace``: the slower
        of seconds per unit and the script-aware estimate scaled; before any, the estimate)."""
        if end <= start:
            return 1.0
        estimated = self._span_seconds(start, end)  # at speech rate 1, as the sums
        seconds = (self.prior + self.pace_sums(sample_rate)).seconds(end - start, estimated)
        return seconds / self.speech_rate * sample_rate / (end - start)

    def _expected_samples(self, start: float, end: float, sample_rate: int) -> int:
        """How long the audio of units ``start`` to ``end`` will be (see ``_pace``)."""
        return round((end - start) * self._pace(start, end, sample_rate))

    def timings(self, sample_rate: int) -> list[SegmentTiming | None]:
        """Where each segment's audio lies in the samples received so far (``None``: none of
        it has arrived). When a segment was spoken twice (re-sent after a dropped connection),
        the later copy counts. Bounds inside a response are placed by billed characters,
        against its estimated length while it has not ended."""
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

        # The lowest start of the spans from k on (non-decreasing in k): a span can hold a
        # position only if it starts at or before it, so the searches below, which take the
        # latest matching span, begin at the last k whose suffix can; the spans after it start
        # too late. Same result as scanning every span from the end, but O(log n) a segment
        # instead of O(n) while responses follow each other (all of a turn without drops).
        lowest: list[float] = []
        for resp, *_ in reversed(spans):
            lowest.append(min(resp.start, lowest[-1]) if lowest else resp.start)
        lowest.reverse()
        starts_before = [m - 1e-9 for m in lowest]  # span k can hold lo: lo >= start - 1e-9
        starts_below = [m + 1e-9 for m in lowest]  # span k can end at hi: hi > start + 1e-9

        out: list[SegmentTiming | None] = []
        for index in range(len(self.texts)):
            lo, hi = self.bounds[index], self.bounds[index + 1]
            start: tuple[int, bool, int] | None = None  # sample, exact, span index
            for k in range(bisect.bisect_right(starts_before, lo) - 1, -1, -1):
                resp, off, end, total, _ = spans[k]
                if resp.start - 1e-9 <= lo < end - 1e-9:
                    sample = at(resp, off, end, total, lo)
                    if sample < off + resp.samples:  # its audio arrived
                        start = (sample, abs(lo - resp.start) < 1e-9, k)
                        break
            if start is None:
                out.append(None)
                continue
            finish: tuple[int, bool] | None = None
            last = bisect.bisect_left(starts_below, hi) - 1
            for k in range(last, start[2] - 1, -1):
                resp, off, end, total, confirmed = spans[k]
                if resp.start + 1e-9 < hi <= end + 1e-9:
                    sample = at(resp, off, end, total, hi)
                    if not resp.abandoned or sample <= off + resp.samples:
                        finish = (sample, confirmed and abs(hi - end) < 1e-9)
                        break
            if finish is None:  # its end has not arrived: estimated from its text
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

    def _text_upto(self, units: float) -> str:
        """The appended text up to ``units`` billable characters, cut at a word boundary."""
        parts: list[str] = []
        for i, text in enumerate(self.texts):
            lo, hi = self.bounds[i], self.bounds[i + 1]
            if units >= hi - 1e-9:
                parts.append(text)
                continue
            if units > lo:
                # Walk characters until their billable units reach the position.
                acc = lo
                cut = 0
                for ch in text:
                    step = billable_characters(ch)
                    if acc + step > units + 1e-9:
                        break
                    acc += step
                    cut += 1
                parts.append(_word_prefix(text, cut))
            break
        return speakable_join(parts)

    def response_text(self, rid: str) -> str:
        """The text a finished response spoke (``""`` for one not known or not done)."""
        resp = self._by_id.get(rid)
        if resp is None or not resp.done or resp.end is None:
            return ""
        before = self._text_upto(resp.start)
        return self._text_upto(resp.end)[len(before) :].strip()

    def _at_boundary(self, units: float) -> bool:
        i = bisect.bisect_left(self.bounds, units - 1e-9)
        return i < len(self.bounds) and abs(self.bounds[i] - units) < 1e-9

    def _stripped(self, resp: _Response) -> bool | None:
        """For a finished response that ended after a joining space (at a segment boundary):
        whether the server billed it without that space (fewer characters than its span).
        ``None`` when its billing says nothing of spaces (it ended inside a segment, where
        its span is its billed characters, or it was not billed or abandoned)."""
        # (Billing comes with response.done: a billed response is finished, never abandoned.)
        if resp.billed is None or resp.end is None or not self._at_boundary(resp.end):
            return None
        return resp.billed < resp.end - resp.start - 0.5

    def _may_start_with_space(self, resp: _Response) -> bool:
        """Whether the first unit of ``resp``'s audio may be the space between two appends
        rather than a letter. Not for the turn's first response (nothing precedes it). Else by
        how the service billed: a response that ended at a segment boundary and was billed
        without the joining space speaks no edge space; one whose own billing says nothing
        follows the responses of this turn that do (no space held back when all of them were
        billed so; one held back when any billed a space, or none says)."""
        if resp.start < 1e-9:
            return False
        own = self._stripped(resp)
        if own is not None:
            return not own
        evidence = [e for e in map(self._stripped, self.responses) if e is not None]
        return not evidence or not all(evidence)

    @property
    def samples_received(self) -> int:
        return sum(resp.samples for resp in self.responses)

    def silent(self) -> bool:
        """Whether some text had no audio: a finished response without any (a voice silent
        for it), or text appended and no audio at all. A turn that ended normally has heard
        then not all of its text, but ``heard_text`` of all the audio received."""
        if self.texts and not any(resp.samples > 0 for resp in self.responses):
            return True
        return any(r.done and not r.abandoned and r.samples <= 0 for r in self.responses)

    def heard_text(self, samples_played: int, sample_rate: int) -> str:
        """The text heard when the sink played ``samples_played`` samples in total."""
        left = samples_played
        heard_to = 0.0
        for resp in self.responses:
            if resp.samples <= 0:
                continue
            end = resp.end if resp.end is not None else self._next_boundary(resp.start)
            if left >= resp.samples and resp.done and not resp.abandoned:
                heard_to = max(heard_to, end)
                left -= resp.samples
                continue
            played = min(left, resp.samples)
            if played <= 0:
                # None of its audio played: playback stopped before it, and the text of the
                # responses without audio before it (a voice silent for "…") was not passed.
                break
            lead_space = not self.commit_mode and self._may_start_with_space(resp)
            if resp.done and not resp.abandoned:
                # Its audio speaks the characters billed for it (the span up to the snapped
                # end may hold a space more, which has no audio).
                units = end - resp.start
                if resp.billed is not None and 0 < resp.billed < units:
                    units = resp.billed
                position = played / resp.samples * units
            else:
                # Playback stopped inside a response that never ended, or was abandoned: its
                # length is unknown, so the part played is converted at the voice's pace. In
                # server_commit mode it may go on past the next segment boundary (the server
                # decides), up to all the text appended; and as its end was never confirmed,
                # the last unit is not claimed on an estimate. (A service that speaks no edge
                # space speaks no trailing one either: its last unit is the one before.)
                limit = end if self.commit_mode else max(end, self.total)
                units = max(0.0, limit - resp.start)
                # At least as slow as its audio so far: that much is known to be in it.
                pace = self._pace(resp.start, limit, sample_rate)
                if units > 0:
                    pace = max(pace, resp.samples / units)
                last = units - 1 if self.commit_mode or lead_space else units - 2
                position = min(played / pace, max(0.0, last)) if pace > 0 else 0.0
            if lead_space:
                # The server decides where the space between two appends is spoken: at the
                # end of one response or the start of the next. Counted from the start, one
                # unit of this response may be that space, not its first letter.
                position -= 1
            heard_to = max(heard_to, resp.start + max(0.0, position))
            if resp.abandoned and left >= resp.samples:
                # Played whole; its text is spoken again after the reconnect, from the start
                # of its segment: what the repeat adds is counted from there (the maximum).
                left -= resp.samples
                continue
            break
        return self._text_upto(heard_to)


def speakable_join(parts: list[str]) -> str:
    """Join segment texts: a space between pieces, none next to Chinese or Japanese text
    (Korean and Thai take the space; see ``bridge.text._chars.join_space``)."""
    out = ""
    for part in (p.strip() for p in parts):
        if part:
            out += join_space(out[-1:], part[0]) + part
    return out
