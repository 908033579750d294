"""The prompt library as the media shell sees it: (language, name, payload type) -> audio bytes."""

from __future__ import annotations

from pathlib import Path

from pbx.media.prompts import PromptLibrary, PromptNotFound, load_prompts

REPO_SOUNDS = Path(__file__).resolve().parents[2] / "sounds"


def sounds_dir(configured: str) -> Path:
    """The configured directory; a relative one is taken from the working directory if it is
    there, else from the repository (so `pbx run` works from anywhere in a checkout)."""
    p = Path(configured)
    if p.is_absolute() or p.is_dir():
        return p
    return REPO_SOUNDS if configured == "sounds" else p


class LibrarySource:
    def __init__(self, library: PromptLibrary) -> None:
        self.library = library

    def audio(self, language: str, name: str, payload_type: int) -> bytes | None:
        codec = "al" if payload_type == 8 else "ul"
        # dialplans may write prompt names with dashes (after-hours); the files use underscores
        key = name.replace("-", "_")
        try:
            if language == "moh":
                return self.library.music(key, codec)
            return self.library.get(language, key, codec)
        except PromptNotFound:
            return None


def load_source(configured: str, default_lang: str) -> LibrarySource:
    return LibrarySource(load_prompts(sounds_dir(configured), default_lang))
