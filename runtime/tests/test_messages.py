"""Messages as users and engines see them: one line whatever a config
value holds, bounded in length, encodable, in the log as on stderr."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, strategies as st

from pyrunc.runtime.errors import MAX_MESSAGE, PyruncError, one_line
from pyrunc.runtime.log import Logger


def test_control_characters_are_escaped() -> None:
    assert one_line("a\nb\r\tc\x00d\x7f") == "a\\nb\\r\\tc\\x00d\\x7f"
    assert one_line("plain é ü") == "plain é ü"
    assert one_line("bad \udcff name") == "bad \\udcff name"


def test_long_messages_are_cut() -> None:
    text = one_line("hostname: " + "h" * 100_000)
    assert len(text) < MAX_MESSAGE + 40 and text.endswith("(98010 more characters)")


@given(st.text(alphabet=st.characters(), max_size=3000))
def test_one_line_always_is(text: str) -> None:
    line = one_line(text)
    assert "\n" not in line and "\r" not in line and len(line) <= MAX_MESSAGE + 40
    line.encode()


def test_log_lines_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    logger = Logger(str(path), "json")
    logger.warning("ignoring unknown capability " + "x\n" * 50_000)
    logger.error(str(PyruncError("must be a string", path="annotations.a\nb")))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and all(len(line) < 3000 for line in lines)
    assert json.loads(lines[1])["msg"] == "annotations.a\\nb: must be a string"
