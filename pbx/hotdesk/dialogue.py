"""The `*35` dialogue of one call: what to ask, what the keyed digits mean, what to say at the end.

How it works: `HotdeskCore.feature(device, args, source, now, wall)` makes one `HotdeskDialogue`
per call and returns its first step. A step is `Ask` (speak, then collect digits) or `Done`
(speak the confirmation, then hang up; its effects are for the shell). The shell answers each
`Ask` with `handle(Digits(...) | Timeout(), now, wall)` until `Done`. Decisions are taken against
the core's state at the moment the digits arrive, not when the call started, so a login elsewhere
or a config reload in between is respected.

The three forms (HD manual, SPEC section 4):
- `*35`: someone hotdesk-logged-in here -> log them out. Otherwise ask the extension, then the PIN.
- `*35*<ext>`: <ext> logged in here -> log out. Otherwise ask the PIN.
- `*35*<ext>*<pin>`: <ext> logged in here -> log out; otherwise check the PIN and log in. No prompt
  but the confirmation (a speed-dial key).
Before anything: the device must allow hotdesking. Before asking for or checking a PIN: the user
must allow hotdesking, and neither the user nor the source may be locked out. Logging out needs no
PIN (the manual's `*35` logs out whoever is on the phone without one). An unknown extension is not
told apart from a wrong PIN: it is asked for a PIN like any other and then gets "wrong PIN".

States (an `ALLOWED` table is checked on every move):
  START -> ASK_EXTENSION | ASK_PIN | DONE;  ASK_EXTENSION -> ASK_EXTENSION | ASK_PIN | DONE;
  ASK_PIN -> ASK_PIN | DONE;  DONE is final.
A question gets `NO_INPUT_RETRIES` repeats when nothing is keyed; a wrong PIN in the interactive
forms gets asked again up to `PIN_TRIES` times per call (each one counts towards the lockout).
"""

from __future__ import annotations

import enum
import hmac
from typing import TYPE_CHECKING

from pbx.hotdesk import prompts as p
from pbx.hotdesk.model import (
    Ask,
    Collect,
    DialogueInput,
    DialogueOver,
    Digits,
    Done,
    EndReason,
    HotdeskEffect,
    InvalidDialogueTransition,
    Outcome,
    PinRejected,
    Step,
)
from pbx.hotdesk.prompts import Play, Speech

if TYPE_CHECKING:
    from pbx.hotdesk.core import HotdeskCore

NO_INPUT_RETRIES = 1
PIN_TRIES = 3
FIRST_DIGIT_TIMEOUT = 5.0
INTER_DIGIT_TIMEOUT = 3.0
# PINs are 4-8 digits (config). Asking for up to 8 whatever the user's PIN tells nobody its length:
# a 4-digit PIN ends with # or the inter-digit timeout.
PIN_COLLECT = Collect(4, 8, FIRST_DIGIT_TIMEOUT, INTER_DIGIT_TIMEOUT)


class DialogueState(enum.Enum):
    START = "start"
    ASK_EXTENSION = "ask_extension"
    ASK_PIN = "ask_pin"
    DONE = "done"


S = DialogueState
ALLOWED: dict[DialogueState, frozenset[DialogueState]] = {
    S.START: frozenset({S.ASK_EXTENSION, S.ASK_PIN, S.DONE}),
    S.ASK_EXTENSION: frozenset({S.ASK_EXTENSION, S.ASK_PIN, S.DONE}),
    S.ASK_PIN: frozenset({S.ASK_PIN, S.DONE}),
    S.DONE: frozenset(),
}


class HotdeskDialogue:
    def __init__(self, core: HotdeskCore, device: str, source: str | None, args: tuple[str, ...]) -> None:
        if len(args) > 2:
            raise ValueError(f"*35 takes at most two arguments, got {args!r}")
        self.core = core
        self.device = device
        self.source = source
        self.args = args
        self.state = S.START
        self.extension: str | None = None  # given or keyed
        self._question: tuple[tuple[Speech, ...], Collect] | None = None  # asked again on no input
        self._no_input = 0
        self._pin_tries = 0

    # --- inputs -----------------------------------------------------------------------------------------
    def start(self, now: float, wall: float) -> Step:
        if self.state is not S.START:
            raise InvalidDialogueTransition(self.state, "start")
        if not self.core.may_hotdesk(self.device):
            on_device = self.core.user_on(self.device)
            return self._done(Outcome.REFUSED_DEVICE, (Play(p.NOT_ALLOWED_DEVICE),), on_device)
        match self.args:
            case ():
                here = self.core.session_on(self.device)
                if here is not None:
                    return self._logout(here.user, wall)
                if self.core.limiter.locked(None, self.source, now):
                    return self._done(Outcome.LOCKED_OUT, (Play(p.TOO_MANY_ATTEMPTS),), None)
                return self._ask_extension()
            case (ext,):
                return self._extension(ext, now, wall, toggle=True)
            case (ext, pin):
                return self._extension(ext, now, wall, toggle=True, pin=pin)
        raise AssertionError("unreachable")

    def handle(self, inp: DialogueInput, now: float, wall: float) -> Step:
        if self.state is S.DONE:
            raise DialogueOver(f"hotdesk dialogue on {self.device} is over")
        if self.state is S.START:
            raise InvalidDialogueTransition(self.state, inp)
        keyed = inp.digits.removesuffix("#") if isinstance(inp, Digits) else ""
        if not keyed:
            self._no_input += 1
            if self._no_input > NO_INPUT_RETRIES or self._question is None:
                return self._done(Outcome.NO_INPUT, (Play(p.GOODBYE),), self.extension)
            return self._ask(self.state, *self._question)
        self._no_input = 0
        if self.state is S.ASK_EXTENSION:
            return self._extension(keyed, now, wall, toggle=False)
        assert self.extension is not None
        return self._check_pin(self.extension, keyed, now, wall, retry=True)

    # --- decisions ----------------------------------------------------------------------------------------
    def _extension(self, ext: str, now: float, wall: float, *, toggle: bool, pin: str | None = None) -> Step:
        """An extension is known (given or keyed): log it out here, refuse, or go on to the PIN."""
        self.extension = ext
        core = self.core
        here = core.session_on(self.device)
        if toggle and here is not None and here.user == ext:
            return self._logout(ext, wall)
        refusal = self._refusal(ext, now)
        if refusal is not None:
            return refusal
        if pin is not None:
            return self._check_pin(ext, pin, now, wall, retry=False)
        return self._ask(S.ASK_PIN, (Play(p.ENTER_PIN),), PIN_COLLECT)

    def _refusal(self, ext: str, now: float) -> Done | None:
        """Why no PIN may be asked for or checked now, if there is a reason."""
        user = self.core.config.user(ext)
        if not self.core.may_hotdesk(self.device):  # the config may have changed since the start
            return self._done(Outcome.REFUSED_DEVICE, (Play(p.NOT_ALLOWED_DEVICE),), ext)
        if user is not None and not user.hotdesk:
            return self._done(Outcome.REFUSED_USER, (Play(p.NOT_ALLOWED_USER),), ext)
        if self.core.limiter.locked(ext if user is not None else None, self.source, now):
            return self._done(Outcome.LOCKED_OUT, (Play(p.TOO_MANY_ATTEMPTS),), ext)
        return None

    def _check_pin(self, ext: str, pin: str, now: float, wall: float, *, retry: bool) -> Step:
        refusal = self._refusal(ext, now)
        if refusal is not None:
            return refusal
        core = self.core
        user = core.config.user(ext)
        known = ext if user is not None else None
        # compare_digest: the time taken says nothing about how much of the PIN was right
        if user is None or user.pin is None or not hmac.compare_digest(user.pin.encode(), pin.encode()):
            effects: list[HotdeskEffect] = [PinRejected(known, self.source, self.device)]
            locks = core.limiter.failed(known, self.source, now)
            effects += locks
            self._pin_tries += 1
            if locks:
                speech: tuple[Speech, ...] = (Play(p.WRONG_PIN), Play(p.TOO_MANY_ATTEMPTS))
                return self._done(Outcome.LOCKED_OUT, speech, ext, effects)
            if retry and self._pin_tries < PIN_TRIES:
                return self._ask(S.ASK_PIN, (Play(p.WRONG_PIN), Play(p.ENTER_PIN)), PIN_COLLECT, effects)
            return self._done(Outcome.WRONG_PIN, (Play(p.WRONG_PIN),), ext, effects)
        core.limiter.succeeded(ext, self.source, now)
        outcome, done = core.login(ext, self.device, now, wall)
        if outcome is Outcome.LOGGED_IN:
            return self._done(outcome, p.logged_in_as(ext), ext, done)
        raise AssertionError(f"login refused after the checks passed: {outcome}")

    def _logout(self, user: str, wall: float) -> Done:
        effects = self.core.logout(user, EndReason.LOGOUT, wall)
        return self._done(Outcome.LOGGED_OUT, (Play(p.LOGGED_OUT),), user, effects)

    # --- steps ----------------------------------------------------------------------------------------------
    def _ask_extension(self) -> Ask:
        longest = max((len(u.extension) for u in self.core.config.users), default=10)
        collect = Collect(1, longest, FIRST_DIGIT_TIMEOUT, INTER_DIGIT_TIMEOUT)
        return self._ask(S.ASK_EXTENSION, (Play(p.ENTER_EXTENSION),), collect)

    def _ask(
        self,
        state: DialogueState,
        speech: tuple[Speech, ...],
        collect: Collect,
        effects: list[HotdeskEffect] | None = None,
    ) -> Ask:
        self._go(state)
        who = self.extension if state is S.ASK_PIN else self.core.user_on(self.device)
        self._question = (speech[-1:], collect)
        return Ask(speech, collect, self.core.language_for(who), tuple(effects or ()))

    def _done(
        self,
        outcome: Outcome,
        speech: tuple[Speech, ...],
        user: str | None,
        effects: list[HotdeskEffect] | None = None,
    ) -> Done:
        self._go(S.DONE)
        return Done(outcome, speech, self.core.language_for(user), tuple(effects or ()), user)

    def _go(self, new: DialogueState) -> None:
        if new not in ALLOWED[self.state]:
            raise InvalidDialogueTransition(self.state, new)
        self.state = new
