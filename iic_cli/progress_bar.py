"""A one-line terminal progress bar; silent when stderr is not a terminal."""

from __future__ import annotations

from typing import Any, TextIO

BAR_WIDTH = 30


class ProgressBar:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def update(self, progress: Any) -> None:
        """Accepts any event with `fraction` and `message` (engine or daemon progress)."""
        if not self.enabled:
            return
        filled = int(BAR_WIDTH * max(0.0, min(1.0, progress.fraction)))
        line = f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.message[:60]:<60}"
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
