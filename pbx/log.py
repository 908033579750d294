"""structlog as JSON lines on stderr. Call-related lines carry `call_id` (and queue/agent).

Loggers are created at import time, before `setup()` has read the configured level, and are
called on every SIP message, so `get()` returns a `Logger` whose level methods are the methods of
an already assembled structlog filtering logger: a filtered level (`debug` at `info`) is one
call of a function that returns None, with no proxy, no `bind()` and no processor. `setup()`
re-assembles every logger handed out so far.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class Logger:
    """The subset of structlog's FilteringBoundLogger the daemon uses, re-pointable by `setup()`."""

    __slots__ = (
        "_bound",
        "critical",
        "debug",
        "debug_enabled",
        "error",
        "exception",
        "info",
        "name",
        "warning",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self._assemble()

    def _assemble(self) -> None:
        bound: Any = structlog.get_logger(self.name).bind()
        self._bound = bound
        self.debug: Any = bound.debug
        self.info: Any = bound.info
        self.warning: Any = bound.warning
        self.error: Any = bound.error
        self.critical: Any = bound.critical
        self.exception: Any = bound.exception
        # Hot paths test this before building a debug line's arguments.
        self.debug_enabled = bool(bound.is_enabled_for(logging.DEBUG))

    def is_enabled_for(self, level: str) -> bool:
        """Whether lines of `level` are written: for callers whose arguments cost to compute."""
        return bool(self._bound.is_enabled_for(_LEVELS[level]))

    def bind(self, **values: Any) -> Any:
        return self._bound.bind(**values)


_loggers: list[Logger] = []


# structlog's add_log_level names
_LEVEL_NAMES = {"warn": "warning", "exception": "error", "fatal": "critical", "msg": "info"}
_format_exc_info = structlog.processors.format_exc_info


class _Stamp:
    """ISO 8601 UTC with microseconds, as structlog's TimeStamper(fmt="iso", utc=True) writes it,
    with the date and time of day formatted once per second (a daemon logs many lines a second)."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def __call__(self) -> str:
        t = time.time()
        second = int(t)
        if second != self.second:
            self.second = second
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self.prefix}.{int((t - second) * 1e6):06d}Z"


_stamp = _Stamp()


def _render(_logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
    """One processor for what used to be add_log_level, TimeStamper, format_exc_info and
    JSONRenderer: the same JSON line (same keys, same order) at about 60 % of the cost,
    which counts on the call path (a few info lines per call)."""
    event["level"] = _LEVEL_NAMES.get(method, method)
    event["timestamp"] = _stamp()
    if "exc_info" in event:
        event = _format_exc_info(_logger, method, event)
    return json.dumps(event, default=repr)


def setup(level: str = "info", file: TextIO | None = None) -> None:
    structlog.configure(
        processors=[_render],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=file or sys.stderr),
        cache_logger_on_first_use=False,  # our Logger holds the assembled logger itself
    )
    for lg in _loggers:
        lg._assemble()


def get(name: str) -> Logger:
    lg = Logger(name)
    _loggers.append(lg)
    return lg
