"""Semantic layers for the answer worker processes of tests/test_runtime*.py (named as "module:function").

Worker processes are spawned: they cannot share the test's objects, so they build their own double here. The traps
act on customer 2 (the red customer) only, because the workers' warm-up queries customer 1:
- `balance` of customer 2 kills the worker process (as a segfault in a C extension would);
- `upcoming` of customer 2 waits until the file named by FINEFIN_TEST_GATE exists (work that stays pending).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from semantic_layer.inputs import CustomerId
from tests.bot_support import InMemorySemanticLayer, build_double

TRAPPED = CustomerId(2)


def double() -> InMemorySemanticLayer:
    return build_double()


class TrappedSemanticLayer(InMemorySemanticLayer):
    def balance(self, customer_id: CustomerId) -> Any:
        if customer_id == TRAPPED:
            os._exit(70)
        return super().balance(customer_id)

    def upcoming(self, customer_id: CustomerId, days: int = 30) -> Any:
        gate = os.environ.get("FINEFIN_TEST_GATE")
        if customer_id == TRAPPED and gate:
            deadline = time.monotonic() + 30
            while not Path(gate).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return super().upcoming(customer_id, days)


def trapped_double() -> TrappedSemanticLayer:
    sl = TrappedSemanticLayer()
    sl.__dict__.update(build_double().__dict__)
    return sl


def broken() -> InMemorySemanticLayer:
    """A semantic layer that cannot be built (say, no warehouse yet): the workers' start-up fails."""
    from finefin.errors import ConfigurationError

    raise ConfigurationError("no warehouse here")
