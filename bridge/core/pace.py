"""A voice's pace, learned from the audio of finished responses (pure).

Before a response's end arrives, the length of its audio can only be estimated. Two models of
the voice's pace, both learned from the responses heard (``PaceSums``):

- seconds per billed unit, whatever the script;
- the text's estimated speaking time (``estimate_seconds``: a wide character, Chinese,
  Japanese or Korean, taking longer than a Latin one) scaled by how the voice compared to it.

Neither holds for every voice: a Hangul syllable may take three times a Latin letter, or as
long. So a span is sized by the slower of the two, and a pace learned in one script cannot
make a response in another claim more than was heard (English after Korean, as the ``exact``
engine speaks every character alike: the first model holds; Korean after English, as real
voices take longer over a syllable: the second). Before anything was heard: the text's estimate.
``VoicePace`` keeps the sums across turns, per model and voice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

from bridge.text._chars import is_wide

__all__ = [
    "CJK_SECONDS_PER_CHAR",
    "LATIN_SECONDS_PER_CHAR",
    "PaceSums",
    "VoicePace",
    "estimate_seconds",
]

# Speaking rates for sizing a response whose audio has not all arrived (seconds per character).
LATIN_SECONDS_PER_CHAR = 0.065
CJK_SECONDS_PER_CHAR = 0.22

_MEMORY_SECONDS = 120.0  # a voice's pace is learned from about its last two minutes


def estimate_seconds(text: str) -> float:
    """The estimated speaking time of ``text`` at speech rate 1 (character by character)."""
    if text.isascii():  # no wide character: the same sum, without a test per character
        return sum(repeat(LATIN_SECONDS_PER_CHAR, len(text)))
    return sum(CJK_SECONDS_PER_CHAR if is_wide(c) else LATIN_SECONDS_PER_CHAR for c in text)


@dataclass(frozen=True, slots=True)
class PaceSums:
    """Responses heard: seconds of ``audio``, billed ``units``, and their text's ``estimated``
    seconds, both times at speech rate 1 (audio times the session's rate)."""

    audio: float = 0.0
    units: float = 0.0
    estimated: float = 0.0

    def add(self, audio: float, units: float, estimated: float) -> PaceSums:
        if audio <= 0 or units <= 0 or estimated <= 0:
            return self  # nothing heard, or nothing to measure it against
        return PaceSums(self.audio + audio, self.units + units, self.estimated + estimated)

    def __add__(self, other: PaceSums) -> PaceSums:
        return PaceSums(
            self.audio + other.audio, self.units + other.units, self.estimated + other.estimated
        )

    def seconds(self, units: float, estimated: float) -> float:
        """How long ``units`` billed units whose text is estimated at ``estimated`` seconds
        will take: the slower of the two models (the estimate itself before anything was
        heard)."""
        if self.audio <= 0:
            return estimated
        return max(units * self.audio / self.units, estimated * self.audio / self.estimated)


@dataclass(slots=True)
class VoicePace:
    """What earlier turns showed of the voices' pace, per model and voice (the older turns
    fading out past about two minutes of audio). A turn given one (``Turn``'s ``pace``;
    ``Assistant`` keeps one, a ``bridge serve`` process one for all its sessions) starts
    from it, which matters when a barge-in inside its first response cannot wait for that
    response's end, and adds its own finished responses when it ends."""

    _sums: dict[tuple[str, str], PaceSums] = field(default_factory=dict)

    def sums(self, model: str, voice: str) -> PaceSums:
        return self._sums.get((model, voice), PaceSums())

    def learn(self, model: str, voice: str, turn: PaceSums) -> None:
        sums = self.sums(model, voice) + turn
        if sums.audio > _MEMORY_SECONDS:
            keep = _MEMORY_SECONDS / sums.audio
            sums = PaceSums(sums.audio * keep, sums.units * keep, sums.estimated * keep)
        if sums.audio > 0:
            self._sums[(model, voice)] = sums
