"""How progress reaches a person: bars with an estimate of the time left on a terminal, plain lines elsewhere.

Every long stage reports typed events (:mod:`tanas_nni.core.progress`); this is the one place they are rendered. On a
terminal, events that count towards a known total (:class:`Epoch`, :class:`Step`, and the ``[i/n]`` items of the
dictionary stages) drive a tqdm bar (tqdm, which NNI and Lightning also use; its rate and remaining-time estimate are what people expect),
and every other line is written above the bars. When stderr is not a terminal (a pipe, a log file, an NNI trial), each
event is the same plain line as always, so logs stay greppable.
"""
from __future__ import annotations

import re
import sys
from typing import IO

from ..core.progress import Epoch, Event, Step, format_event

__all__ = ["Renderer", "renderer"]

# The counted items of the dictionary stages: "[3/10] mnist:2-vs-rest: ..." (tanas_nni.dictionary.build and
# tanas_nni.pipeline.architectures write them so, as plain strings through their ``log`` callable).
_ITEM = re.compile(r"^\[(\d+)/(\d+)\] (\S+?):? ")


class Renderer:
    def __init__(self, stream: IO | None = None, bars: bool | None = None):
        self.stream = stream or sys.stderr
        self.bars = self.stream.isatty() if bars is None else bars
        self._open: dict = {}

    def event(self, event: Event) -> None:
        line = format_event(event)
        if self.bars and isinstance(event, (Epoch, Step)) and (event.epochs if isinstance(event, Epoch)
                                                               else event.total):
            if isinstance(event, Epoch):
                key, n, total, desc = (event.stage, event.method, "epoch"), event.epoch, event.epochs, "epochs"
                post = {} if event.val_acc is None else {"val acc": f"{event.val_acc:.2%}"}
            else:
                key, n, total, desc = (event.stage, event.method, event.unit), event.index, event.total, event.unit + "s"
                post = {} if event.val_acc is None else {"val acc": f"{event.val_acc:.2%}"}
            head = f"[{event.stage}]" + (f" {event.method}" if event.method else "")
            self._advance(key, n, total, f"{head} {desc}", post)
            return
        if line:
            self.line(line)

    def message(self, text: str, stage: str = "dictionary") -> None:
        """A plain-string log line of the dictionary stages; a counted item also moves that stage's bar."""
        m = _ITEM.match(text)
        if self.bars and m:
            self.line(text)
            self._advance((stage, None, "task"), int(m.group(1)) - 1, int(m.group(2)), f"[{stage}] tasks",
                          {"now": m.group(3)})
            return
        bar = self._open.pop((stage, None, "task"), None)
        if bar is not None:  # the stage's closing line (after its last item): the bar is done
            bar.update(bar.total - bar.n)
            bar.close()
        self.line(text)

    def line(self, text: str) -> None:
        if self._open:
            from tqdm import tqdm
            tqdm.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def _advance(self, key, n: int, total: int, desc: str, postfix: dict) -> None:
        from tqdm import tqdm

        bar = self._open.get(key)
        if bar is None or bar.total != total or n < bar.n:
            if bar is not None:
                bar.close()
            bar = self._open[key] = tqdm(total=total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True)
        bar.set_postfix(postfix, refresh=False)
        bar.update(n - bar.n)
        if n >= total:
            bar.close()
            del self._open[key]


_renderer: Renderer | None = None


def renderer() -> Renderer:
    """The process's renderer (stderr's kind decided at first use)."""
    global _renderer
    if _renderer is None or _renderer.stream is not sys.stderr:
        _renderer = Renderer(sys.stderr)
    return _renderer
