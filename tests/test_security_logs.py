"""One-line key=value logs carrying the request id."""

from __future__ import annotations

import io
import json
import logging

from bot.logs import KeyValueFormatter, RequestIdFilter, configure_logging, request_context


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("finefin.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_one_line_per_record_with_the_request_id() -> None:
    logger, stream = _capture()
    with request_context("abc123def456"):
        logger.info("user said %s", 'balance\nts=forged level=ERROR msg="x"')
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            logger.exception("failed")
    logger.warning("outside")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines  # the newline in user text and the traceback stay inside their line
    assert lines[0].startswith("ts=")
    assert " level=INFO logger=finefin.test.logs request_id=abc123def456 msg=" in lines[0]
    msg = lines[0].split(" msg=", 1)[1]
    assert json.loads(msg) == 'user said balance\nts=forged level=ERROR msg="x"'  # forged fields stay inside msg
    assert "request_id=abc123def456" in lines[1] and 'exc="Traceback' in lines[1] and "ValueError: boom" in lines[1]
    assert "request_id=- msg=outside" in lines[2]


def test_configure_logging_replaces_the_root_handlers() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        logging.basicConfig(force=True)
        configure_logging("DEBUG")
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, KeyValueFormatter)
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
