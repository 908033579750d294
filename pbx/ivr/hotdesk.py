"""The `*35` hotdesk dialogue (pbx.hotdesk) as a program on a call the PBX answered.

The dialogue says what to speak and how to collect digits (`Ask`), or what to say at the end
(`Done`); this plays the prompts (a key interrupts a question), collects digits as `Collect`
says (first-digit timeout from the end of the prompt, inter-digit timeout, `#` ends, at most
`max_digits`), hands them to the dialogue, and passes the dialogue's effects on (`Emit`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pbx.hotdesk.core import HotdeskCore
from pbx.hotdesk.dialogue import HotdeskDialogue
from pbx.hotdesk.model import Collect, Digits, Done, Step, Timeout
from pbx.ivr.program import Command, Emit, Hangup, Play, Program, StopPlay


@dataclass
class HotdeskProgram(Program):
    core: HotdeskCore
    device: str
    source: str | None
    args: tuple[str, ...]
    dialogue: HotdeskDialogue | None = None
    collect: Collect | None = None
    digits: str = ""
    listening: bool = False
    deadline: float | None = None
    outcome: str | None = None

    def _wall(self, now: float) -> float:
        return now + self.wall_offset

    def start(self, now: float) -> list[Command]:
        self.dialogue, step = self.core.feature(self.device, self.args, self.source, now, self._wall(now))
        return self._step(step)

    def _step(self, step: Step) -> list[Command]:
        out: list[Command] = [Emit(tuple(step.effects))] if step.effects else []
        if isinstance(step, Done):
            self.listening, self.deadline, self.outcome = False, None, step.outcome.value
            return [*out, Play(step.prompts, interruptible=False), Hangup()]
        self.collect, self.digits, self.listening, self.deadline = step.collect, "", True, None
        return [*out, Play(step.prompts)]

    def on_play_done(self, now: float) -> list[Command]:
        if self.listening and not self.digits and self.deadline is None and self.collect is not None:
            self.deadline = now + self.collect.first_digit_timeout
        return []

    def on_digit(self, digit: str, now: float) -> list[Command]:
        c = self.collect
        if not self.listening or c is None:
            return []
        out: list[Command] = [StopPlay()] if not self.digits else []
        if digit == c.terminator:
            return [*out, *self._submit(now)]
        if digit.isdigit():
            self.digits += digit
        if len(self.digits) >= c.max_digits:
            return [*out, *self._submit(now)]
        self.deadline = now + c.inter_digit_timeout
        return out

    def on_timer(self, now: float) -> list[Command]:
        if self.deadline is None or now < self.deadline:
            return []
        self.deadline = None
        return self._submit(now)

    def _submit(self, now: float) -> list[Command]:
        assert self.dialogue is not None
        self.listening, self.deadline = False, None
        inp = Digits(self.digits) if self.digits else Timeout()
        return self._step(self.dialogue.handle(inp, now, self._wall(now)))
