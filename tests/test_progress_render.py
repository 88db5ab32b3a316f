"""Progress as people expect it: bars with the time left on a terminal, the same plain lines as ever elsewhere."""
from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios

from tanas_nni.cli._progress import Renderer
from tanas_nni.core.progress import Epoch, Message, Step, format_event

EVENTS = [Message("search", text="space ready"), *[Epoch("retrain", epoch=i, epochs=3, val_acc=0.9) for i in (1, 2, 3)],
          *[Step("compare", unit="method", index=i, total=2) for i in (1, 2)], Message("done", text="bye")]


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_every_event_is_its_plain_line():
    out = io.StringIO()
    r = Renderer(out)
    for e in EVENTS:
        r.event(e)
    r.message("[2/10] mnist:1-vs-rest: test acc 99.00% (3.1 s)")
    assert out.getvalue().splitlines() == [format_event(e) for e in EVENTS] + [
        "[2/10] mnist:1-vs-rest: test acc 99.00% (3.1 s)"]


def test_on_a_terminal_counted_events_are_bars_with_the_time_left():
    out = _Terminal()
    r = Renderer(out)
    r.event(EVENTS[0])
    r.event(EVENTS[1])
    r.message("[1/4] mnist:0-vs-rest: epoch 1/3")
    text = out.getvalue()
    assert "space ready" in text and "[retrain] epochs" in text and "1/3" in text and "<" in text  # elapsed<left
    assert "[dictionary] tasks" in text and "0/4" in text and "mnist:0-vs-rest" in text
    for e in EVENTS[2:]:
        r.event(e)
    r.message("dictionary runs/dictionary: 4 entries (9 s)")
    assert "bye" in out.getvalue() and "4 entries" in out.getvalue() and not r._open  # finished bars are closed


def test_a_real_terminal_gets_bars_and_a_pipe_gets_lines():
    code = ("from tanas_nni.cli import print_event\nfrom tanas_nni.core.progress import Epoch\n"
            "for i in (1, 2):\n    print_event(Epoch('retrain', epoch=i, epochs=2))\n")
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal of 100 columns
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)  # read while it runs: a closed terminal's unread output is gone
    seen = b""
    try:
        while chunk := os.read(leader, 4096):
            seen += chunk
    except OSError:  # the terminal is closed once the child is gone
        pass
    os.close(leader)
    proc.wait(timeout=120)
    assert proc.returncode == 0 and b"[retrain] epochs" in seen and (b"it/s" in seen or b"s/it" in seen)
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert piped.stderr.splitlines() == ["[retrain] epoch 1/2", "[retrain] epoch 2/2"]
