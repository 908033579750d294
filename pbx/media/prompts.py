"""The prompt library: pre-rendered G.711 audio by (language, name, codec).

Files live in `sounds/<lang>/<name>.ul|.al` and music on hold in `sounds/moh/<name>.ul|.al`
(see sounds/README.md). Only `load_prompts` touches the file system, once at start or reload;
everything else is a pure look-up in memory, so playback never reads a file or encodes audio.

A deployment may replace any file by a recording under the same name: either codec alone (the
other is derived with a 256-byte translate) or a `.wav` (8 kHz, mono, 16-bit), which is encoded
once at load. Missing prompts are an error at load, listed all at once, not a silence at run time.
"""

from __future__ import annotations

import wave
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pbx.media import g711
from pbx.media.say import LANGUAGES, NUMBER_PROMPTS

MOH_DIR: Final = "moh"
MOH_PREFIX: Final = "moh:"  # prompt names of this form play music: "moh:default"
CODECS: Final = ("ul", "al")

#: what the PBX itself plays; `load_prompts` refuses a directory that lacks any of them
REQUIRED_PROMPTS: Final = frozenset(
    {
        "welcome",
        "enter_extension",
        "enter_pin",
        "logged_in_as",
        "logged_out",
        "wrong_pin",
        "too_many_attempts",
        "you_are_number",
        "in_the_queue",
        "expected_wait",
        "minutes",
        "minute",
        "press_1_callback",
        "will_be_called_back",
        "logged_in_to_queue",
        "logged_out_of_queue",
        "paused",
        "available",
        "goodbye",
        "not_allowed",
        "invalid",
        "please_try_again",
        "closed",
        "after_hours",
        "closed_holiday",
        "please_hold",
        "enter_number",
        "number_accepted",
        "number_invalid",
    }
    | NUMBER_PROMPTS
)
REQUIRED_MUSIC: Final = frozenset({"default"})

_CODEC_ALIASES: Final = {"ul": "ul", "pcmu": "ul", "ulaw": "ul", "al": "al", "pcma": "al", "alaw": "al"}


class PromptError(Exception):
    """The prompt directory is incomplete or holds a file we cannot use; `problems` lists all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class PromptNotFound(KeyError):
    pass


def codec_ext(codec: str) -> str:
    """ "PCMU"/"ulaw"/"ul" -> "ul", "PCMA"/"alaw"/"al" -> "al"."""
    try:
        return _CODEC_ALIASES[codec.lower()]
    except KeyError:
        raise ValueError(f"no prompts in codec {codec!r}") from None


@dataclass(frozen=True)
class PromptLibrary:
    """`audio[(lang, name)]` is `{"ul": bytes, "al": bytes}`; lang is "moh" for music."""

    audio: Mapping[tuple[str, str], Mapping[str, bytes]]
    default_lang: str = "nl"
    _langs: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_langs", frozenset(lang for lang, _ in self.audio if lang != MOH_DIR))

    def get(self, lang: str, name: str, codec: str) -> bytes:
        """The audio of `name` in `lang`, else in the default language; `moh:<name>` is music."""
        ext = codec_ext(codec)
        if name.startswith(MOH_PREFIX):
            return self.music(name[len(MOH_PREFIX) :], ext)
        for key in ((lang, name), (self.default_lang, name)):
            if key in self.audio:
                return self.audio[key][ext]
        raise PromptNotFound(f"no prompt {name!r} in {lang!r} or {self.default_lang!r}")

    def music(self, name: str = "default", codec: str = "ul") -> bytes:
        key = (MOH_DIR, name)
        if key not in self.audio:
            key = (MOH_DIR, "default")
            if key not in self.audio:
                raise PromptNotFound(f"no music {name!r} and no default music")
        return self.audio[key][codec_ext(codec)]

    def has(self, lang: str, name: str) -> bool:
        return (lang, name) in self.audio

    def languages(self) -> list[str]:
        return sorted(self._langs)

    def names(self, lang: str) -> list[str]:
        return sorted(name for (lg, name) in self.audio if lg == lang)

    def music_names(self) -> list[str]:
        return self.names(MOH_DIR)

    def missing(
        self,
        required: Iterable[str] = REQUIRED_PROMPTS,
        languages: Iterable[str] = LANGUAGES,
        music: Iterable[str] = REQUIRED_MUSIC,
    ) -> list[str]:
        """`lang/name` for every required prompt that is absent, sorted."""
        need = sorted(set(required))
        langs = sorted(set(languages))
        out = [f"{lang}/{name}" for lang in langs for name in need if not self.has(lang, name)]
        return out + [f"{MOH_DIR}/{name}" for name in sorted(set(music)) if not self.has(MOH_DIR, name)]


def load_prompts(
    directory: Path,
    default_lang: str = "nl",
    required: Iterable[str] = REQUIRED_PROMPTS,
    languages: Iterable[str] = LANGUAGES,
    music: Iterable[str] = REQUIRED_MUSIC,
) -> PromptLibrary:
    """Read every `<lang>/<name>.ul|.al|.wav` under `directory`; raise PromptError listing all
    problems (unreadable files, missing prompts for any required language)."""
    problems: list[str] = []
    audio: dict[tuple[str, str], dict[str, bytes]] = {}
    if not directory.is_dir():
        raise PromptError([f"{directory}: not a directory"])
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        stems = sorted({p.stem for p in sub.iterdir() if p.suffix in (".ul", ".al", ".wav")})
        for stem in stems:
            try:
                audio[(sub.name, stem)] = _read_one(sub, stem)
            except (OSError, ValueError, wave.Error) as e:
                problems.append(f"{sub / stem}: {e}")
    langs = set(languages) | {default_lang}
    lib = PromptLibrary(audio, default_lang)
    problems += [f"missing {m}" for m in lib.missing(required, langs, music)]
    if problems:
        raise PromptError(problems)
    return lib


def _read_one(sub: Path, stem: str) -> dict[str, bytes]:
    ul, al, wav = (sub / f"{stem}.{ext}" for ext in ("ul", "al", "wav"))
    if ul.exists() and al.exists():
        return {"ul": ul.read_bytes(), "al": al.read_bytes()}
    if ul.exists():
        data = ul.read_bytes()
        return {"ul": data, "al": g711.ulaw_to_alaw(data)}
    if al.exists():
        data = al.read_bytes()
        return {"ul": g711.alaw_to_ulaw(data), "al": data}
    pcm = _read_wav(wav)
    return {"ul": g711.ulaw_encode(pcm), "al": g711.alaw_encode(pcm)}


def _read_wav(path: Path) -> array[int]:
    with wave.open(str(path), "rb") as w:
        shape = (w.getframerate(), w.getnchannels(), w.getsampwidth())
        if shape != (8000, 1, 2):
            rate, ch, width = shape
            raise ValueError(f"need 8000 Hz mono 16-bit WAV, got {rate} Hz, {ch} channel(s), {8 * width}-bit")
        return g711.pcm_from_bytes(w.readframes(w.getnframes()))
