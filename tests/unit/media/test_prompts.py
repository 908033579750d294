"""The prompt library: the committed sounds/ are complete; fallback, derivation and errors."""

from __future__ import annotations

import wave
from array import array
from pathlib import Path

import pytest

from pbx.media import g711
from pbx.media.prompts import (
    REQUIRED_MUSIC,
    REQUIRED_PROMPTS,
    PromptError,
    PromptLibrary,
    PromptNotFound,
    codec_ext,
    load_prompts,
)
from pbx.media.say import LANGUAGES, say_digits, say_number

SOUNDS = Path(__file__).resolve().parents[3] / "sounds"


def table() -> dict[str, dict[str, str]]:
    rows = [line.split("\t") for line in (SOUNDS / "prompts.tsv").read_text().splitlines()]
    rows = [r for r in rows if r[0] and not r[0].startswith("#")]
    langs = rows[0][1:]
    return {r[0]: dict(zip(langs, r[1:], strict=True)) for r in rows[1:]}


def test_table_covers_required_prompts_in_both_languages() -> None:
    t = table()
    assert set(t) >= REQUIRED_PROMPTS
    assert all(set(texts) == set(LANGUAGES) and all(texts.values()) for texts in t.values())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_table_prompt_exists_in_both_codecs(lang: str) -> None:
    for name in table():
        ul, al = SOUNDS / lang / f"{name}.ul", SOUNDS / lang / f"{name}.al"
        assert ul.is_file() and al.is_file(), f"{lang}/{name}"
        # same length (one byte per sample), between 0.1 s and 10 s of audio
        assert 800 <= ul.stat().st_size == al.stat().st_size <= 80_000, f"{lang}/{name}"


def test_committed_sounds_load_and_say_only_existing_prompts() -> None:
    lib = load_prompts(SOUNDS)
    assert lib.languages() == ["en", "nl"]
    for lang in LANGUAGES:
        for n in range(1000):
            assert all(lib.has(lang, name) for name in say_number(n, lang)), (lang, n)
        assert all(lib.has(lang, name) for name in say_digits("0123456789*#", lang))
    for name in REQUIRED_MUSIC:
        assert len(lib.music(name, "ul")) >= 8000 * 20  # at least 20 s of music


def test_sounds_stay_small() -> None:
    total = sum(p.stat().st_size for p in SOUNDS.rglob("*") if p.suffix in (".ul", ".al"))
    assert total < 3_000_000


def lib_of(**files: bytes) -> PromptLibrary:
    audio: dict[tuple[str, str], dict[str, bytes]] = {}
    for key, data in files.items():
        lang, name = key.split("__")
        audio[(lang, name)] = {"ul": data, "al": g711.ulaw_to_alaw(data)}
    return PromptLibrary(audio, default_lang="nl")


def test_get_falls_back_to_the_default_language() -> None:
    lib = lib_of(nl__welcome=b"\x01", en__welcome=b"\x02", nl__goodbye=b"\x03", moh__default=b"\x04")
    assert lib.get("en", "welcome", "PCMU") == b"\x02"
    assert lib.get("en", "goodbye", "ul") == b"\x03"
    assert lib.get("de", "welcome", "ul") == b"\x01"
    assert lib.get("nl", "welcome", "PCMA") == g711.ulaw_to_alaw(b"\x01")
    assert lib.get("nl", "moh:default", "ul") == b"\x04"
    assert lib.get("nl", "moh:jazz", "ul") == b"\x04"  # unknown music plays the default
    with pytest.raises(PromptNotFound):
        lib.get("en", "nothing", "ul")
    with pytest.raises(ValueError):
        lib.get("en", "welcome", "G722")
    assert lib.languages() == ["en", "nl"]
    assert lib.names("nl") == ["goodbye", "welcome"]
    assert lib.music_names() == ["default"]


def test_missing_lists_every_absent_prompt() -> None:
    lib = lib_of(nl__welcome=b"\x01")
    assert lib.missing(["welcome", "goodbye"], ["nl", "en"]) == [
        "en/goodbye",
        "en/welcome",
        "nl/goodbye",
        "moh/default",
    ]


def write_wav(path: Path, pcm: array[int], rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(g711.pcm_to_bytes(pcm))


def test_load_derives_the_other_codec_and_reads_wav(tmp_path: Path) -> None:
    for d in ("nl", "en", "moh"):
        (tmp_path / d).mkdir()
    ul = bytes(range(0, 256, 3))
    (tmp_path / "nl" / "welcome.ul").write_bytes(ul)
    (tmp_path / "en" / "welcome.al").write_bytes(g711.ulaw_to_alaw(ul))
    pcm = array("h", [0, 1000, -1000, 32000] * 40)
    write_wav(tmp_path / "moh" / "default.wav", pcm)
    lib = load_prompts(tmp_path, required=["welcome"])
    assert lib.get("nl", "welcome", "al") == g711.ulaw_to_alaw(ul)
    assert lib.get("en", "welcome", "ul") == g711.alaw_to_ulaw(g711.ulaw_to_alaw(ul))
    assert lib.music("default", "ul") == g711.ulaw_encode(pcm)
    assert lib.music("default", "al") == g711.alaw_encode(pcm)


def test_load_reports_all_problems_at_once(tmp_path: Path) -> None:
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "welcome.ul").write_bytes(b"\xff" * 10)
    write_wav(tmp_path / "nl" / "goodbye.wav", array("h", [0] * 10), rate=16000)
    with pytest.raises(PromptError) as e:
        load_prompts(tmp_path, required=["welcome", "goodbye"])
    problems = e.value.problems
    assert any("goodbye" in p and "16000 Hz" in p for p in problems)
    assert "missing en/welcome" in problems and "missing en/goodbye" in problems
    assert "missing moh/default" in problems
    with pytest.raises(PromptError):
        load_prompts(tmp_path / "nope")


def test_codec_ext() -> None:
    assert codec_ext("PCMU") == "ul" and codec_ext("alaw") == "al"
