"""Block Kit builders on their JSON: exact numbers from the test double, Slack limits, escaping, freshness."""

# ruff: noqa: E402 - assertion rewriting must be registered before the support module is imported
from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.bot_support")

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

from bot import blocks as bk
from bot.render import blocks_to_text
from bot.serialize import to_jsonable
from semantic_layer.inputs import CustomerId, Month
from tests.bot_support import NOW, build_double


def _json(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_money_and_percent_formats() -> None:
    assert bk.money(Decimal("1234.5")) == "1,234.50 EUR"
    assert bk.money(Decimal("-310.25")) == "-310.25 EUR"
    assert bk.money(Decimal("0")) == "0.00 EUR"
    assert bk.money(Decimal("0.005")) == "0.01 EUR" and bk.money(Decimal("-0.005")) == "-0.01 EUR"  # half-up
    assert bk.pct(Decimal("10.0")) == "+10.0%"
    assert bk.pct(Decimal("-25.0")) == "-25.0%"
    assert bk.pct(None) == "n/a"


def test_balance_blocks_exact_numbers() -> None:
    sl = build_double()
    fresh = sl.freshness()
    out = _json(bk.balance_blocks(sl.balance(CustomerId(1)), "Your balance", fresh, 15))
    assert "checking #10: *1,234.50 EUR*" in out
    assert "savings #11: *20,000.00 EUR*" in out
    assert "*Current balance: 21,234.50 EUR* (all accounts, as of 2026-11-23)" in out
    assert "Data as of 2026-11-24 04:00 UTC" in out
    assert "Stale data" not in out
    frozen = _json(bk.balance_blocks(sl.balance(CustomerId(3)), "x", fresh, 15))
    assert "checking #30 (frozen): *7.00 EUR*" in frozen


def test_upcoming_statement_growth_tiers_transactions_define_numbers() -> None:
    sl = build_double()
    fresh = sl.freshness()
    up = _json(bk.upcoming_blocks(sl.upcoming(CustomerId(1)), fresh, 15))
    assert "2026-11-27 · bill_payment · Rent: *-950.00 EUR* → projected 20,284.50 EUR" in up
    assert "*Projected balance after 30 days: 23,384.50 EUR*" in up
    st = _json(bk.statement_blocks(sl.statement(CustomerId(1), Month(2026, 10)), fresh))
    assert "Opening balance: *18,000.00 EUR*" in st and "Closing balance: *21,234.50 EUR*" in st
    assert "Money in: 3,430.00 EUR · Money out: 195.50 EUR (4 transactions)" in st
    gr = _json(bk.growth_blocks(sl.monthly_growth(Month(2026, 10)), fresh))
    assert "Revenue: *13,310.00 EUR* (+10.0% MoM)" in gr
    assert "Transaction volume: *600,600.00 EUR* (+10.0% MoM), 4,851 transactions" in gr
    assert "New customers: *117* (+30.0% MoM)" in gr
    assert "`2026-07` revenue 10,000.00 EUR" in gr
    ti = _json(bk.tiers_blocks(sl.customers_per_tier(), fresh))
    assert "Bronze: *3,120* (+41 vs previous month)" in ti and "Gold: *1,480* (-7 vs previous month)" in ti
    assert "Total: *5,000*" in ti
    tx = _json(bk.transactions_blocks(sl.transactions_per_month(), fresh, 40))
    assert ("`2026-10` *4,000* — Deposit: 1,500 (250,000.00 EUR) · P2P transfer: 1,300 (90,000.00 EUR) · "
            "Withdrawal: 1,200 (180,000.00 EUR)") in tx
    assert tx.index("`2026-10`") < tx.index("`2026-07`")  # newest first
    de = _json(bk.define_blocks(sl.define("revenue"), fresh))
    assert "sum of fee_amount over booked transactions" in de


def test_growth_of_a_running_month_says_month_to_date_and_what_it_compares() -> None:
    sl = build_double()
    growth = sl.monthly_growth(Month(2026, 11))
    assert growth.is_month_to_date
    blocks = bk.growth_blocks(growth, sl.freshness())
    assert blocks[0]["text"]["text"] == "Growth 2026-11, month to date (1–23 Nov)"
    out = _json(blocks)
    assert "Revenue: *9,000.00 EUR* (-5.0% vs 1–23 Oct)" in out
    assert "Transaction volume: *450,000.00 EUR* (+2.5% vs 1–23 Oct), 3,500 transactions" in out
    assert "New customers: *80* (n/a vs 1–23 Oct)" in out
    assert "2026-11 is not over: figures for 1–23 Nov (data as of 2026-11-23)" in out
    assert "the same days of the month before (1–23 Oct)" in out
    assert "`2026-11` (1–23 Nov, month to date) revenue 9,000.00" in out
    assert "`2026-10` revenue 13,310.00" in out and "MoM" not in out
    # a whole month says MoM and nothing about a month to date
    whole = _json(bk.growth_blocks(sl.monthly_growth(Month(2026, 10)), sl.freshness()))
    assert "month to date" not in whole and "not over" not in whole and "(+10.0% MoM)" in whole


def test_growth_day_ranges_at_month_ends() -> None:
    from datetime import date

    from semantic_layer.types import GrowthFigures

    zero = Decimal("0.00")

    def figures(month: Month, through: date, compared: date) -> GrowthFigures:
        return GrowthFigures(month, zero, zero, 0, 0, None, None, None, through=through, compared_through=compared)

    march = figures(Month(2028, 3), date(2028, 3, 30), date(2028, 2, 29))
    assert (bk.growth_period(march), bk.growth_compared(march)) == ("month to date (1–30 Mar)", "vs 1–29 Feb")
    first = figures(Month(2027, 1), date(2027, 1, 1), date(2026, 12, 1))
    assert (bk.growth_period(first), bk.growth_compared(first)) == ("month to date (1 Jan)", "vs 1 Dec")
    whole = GrowthFigures(Month(2026, 5), zero, zero, 0, 0, None, None, None)
    assert (bk.growth_period(whole), bk.growth_compared(whole)) == ("", "MoM")
    assert (whole.last_day, whole.compared_last_day) == (date(2026, 5, 31), date(2026, 4, 30))


def test_watchlist_and_red_blocks_escape_names() -> None:
    sl = build_double()
    fresh = sl.freshness()
    wl = _json(bk.watchlist_blocks(sl.watchlist(), fresh, 15))
    assert ("*Bob &lt;b&gt;Brown&lt;/b&gt;* (#2) — high withdrawals in 2026-10: 4,200.00 EUR "
            "(threshold 3,000.00 EUR)") in wl
    assert "<b>" not in wl
    red = _json(bk.red_blocks(sl.watchlist(), fresh, 15))
    assert "(#2) — 4 months in the red since 2026-07, balance at 2026-10-31: -310.25 EUR" in red


def test_stale_and_missing_freshness_warn() -> None:
    sl = build_double()
    sl.last_load_at = NOW - timedelta(hours=30)
    text = _json(bk.freshness_blocks(sl.freshness()))
    assert "Stale data" in text and "30 h old" in text and "26 h freshness target" in text
    sl.last_load_at = None
    text = _json(bk.freshness_blocks(sl.freshness()))
    assert "no load has succeeded yet" in text


def test_long_lists_respect_slack_limits_and_say_they_are_cut() -> None:
    sl = build_double(extra_watch_entries=400)
    watchlist = sl.watchlist()
    long_names = dataclasses.replace(
        watchlist, entries=tuple(e._replace(full_name="N" * 400) for e in watchlist.entries)
    )
    blocks = bk.watchlist_blocks(long_names, sl.freshness(), 40)
    assert len(blocks) <= bk.MAX_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= bk.MAX_SECTION_CHARS
    assert "Showing 40 of 402 entries; the full list is attached as a CSV file." in _json(blocks)
    many = bk.message([bk.section(str(i)) for i in range(80)])
    assert len(many) == 50 and "shortened" in many[-1]["elements"][0]["text"]
    assert len(bk.section("x" * 5000)["text"]["text"]) == 3000


def test_serialize_and_render() -> None:
    sl = build_double()
    data = to_jsonable(sl.balance(CustomerId(1)))
    assert data["total"] == "21234.50" and data["customer_id"] == 1 and data["as_of"] == "2026-11-23"
    assert data["accounts"][0] == {
        "account_id": 10,
        "account_type": "checking",
        "status": "active",
        "balance": "1234.50",
    }
    assert to_jsonable(sl.watchlist())["month"] == "2026-10"
    text = blocks_to_text(bk.watchlist_blocks(sl.watchlist(), sl.freshness(), 15))
    assert "Bob <b>Brown</b> (#2)" in text and "*" not in text
