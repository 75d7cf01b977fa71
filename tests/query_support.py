"""One small warehouse shared by the query tests of a session (built once: the chain takes ~30 s)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dbt_chain import Chain, make_chain

_built: dict[str, Chain] = {}


def query_chain(make_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The chain of 120 customers the query tests read (generator -> PostgreSQL -> dlt -> DuckDB -> dbt)."""
    key = str(tmp_path_factory.getbasetemp())
    if key not in _built:
        chain = make_chain(make_database, Path(tmp_path_factory.mktemp("query")), customers=120)
        chain.build()
        chain.publish()
        _built[key] = chain
    return _built[key]
