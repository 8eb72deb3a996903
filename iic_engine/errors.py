"""Exceptions the engine raises at its boundary, with messages a photographer can act on."""

from __future__ import annotations


class InpaintingError(ValueError):
    """Bad input. `code` is stable (the daemon forwards it); the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RemovalCancelled(Exception):
    """`should_cancel()` returned True; raised between iterations or upsampling stages."""

    def __init__(self) -> None:
        super().__init__("The removal was cancelled.")


class WeightsError(InpaintingError):
    """A weights file that is missing, corrupt or made for another architecture."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_weights", message)
