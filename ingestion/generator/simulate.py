"""`simulate_days`: append the activity of the next days after the data's current day.

The current day is read from the data (latest updated_at / booked_at, UTC); there is no state file. Each simulated
day inserts new customers, accounts, loans, transactions and scheduled orders, books the orders due that day, and
updates loans, investments and a few customer profiles. Every inserted or updated row gets created/updated instants
inside that day, which is after everything already stored, so an `updated_at` cursor sees exactly the changes.
Randomness is seeded by (seed, day), and rows are read in key order: same seed and same state, same result.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta

import numpy as np
import psycopg
import pyarrow as pa

from ingestion.generator import arrow_rows as ar
from ingestion.generator.bulk_load import copy_csv
from ingestion.generator.calendar import (
    EPOCH_DAY,
    US_PER_DAY,
    US_PER_HOUR,
    US_PER_MINUTE,
    US_PER_SECOND,
    day_us,
    us_to_datetime,
)
from ingestion.generator.generate import GeneratorArgumentError, transaction_columns
from ingestion.generator.identity import ibans, identity_rng, postal_addresses
from ingestion.generator.ledger import OVERDRAFT_RATE_BP, SAVINGS_RATE_BP, RowCollector, order_and_number
from ingestion.generator.population import ascii_slug
from ingestion.generator.summary import SimulateSummary
from ingestion.generator.vocab import (
    COUNTRIES,
    DESCRIPTIONS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    MERCHANT_BASE,
    MERCHANTS,
    TX_TYPES,
    D,
    S,
    T,
)
from ingestion.source import SOURCE_TABLES, connect

log = logging.getLogger(__name__)

SPEND_PER_CUSTOMER_DAY = 0.45
P2P_PER_CUSTOMER_DAY = 0.033
PROFILE_EDITS_PER_CUSTOMER_DAY = 0.002
INVESTMENT_MOVES_PER_DAY = 0.02     # per open investment
LOANS_PER_CUSTOMER_DAY = 0.0004
SCHEDULE_AHEAD_DAYS = 30
SIGNUP_GROWTH = 1.07


class EmptySourceError(GeneratorArgumentError):
    """simulate_days needs generated data to continue from."""


def current_day(conn: psycopg.Connection) -> date | None:
    """The data's 'today': the UTC date of the latest change or booking in any source table."""
    parts = " UNION ALL ".join(f"SELECT max(updated_at) FROM {t}" for t in SOURCE_TABLES)
    row = conn.execute(
        f"SELECT (max(m) AT TIME ZONE 'UTC')::date FROM ({parts} UNION ALL "  # fixed table names
        "SELECT max(booked_at) FROM transactions) x(m)").fetchone()
    return None if row is None else row[0]


def _cents(values: list[object]) -> np.ndarray:
    """numeric values from the driver (Decimal) to int64 cents, exactly."""
    return np.array([int(v * 100) for v in values], dtype=np.int64)  # type: ignore[operator]


def _decimal_text(cents: np.ndarray) -> list[str]:
    return [f"{'-' if c < 0 else ''}{abs(int(c)) // 100}.{abs(int(c)) % 100:02d}" for c in cents]


class _Day:
    """One simulated day on an open transaction."""

    def __init__(self, conn: psycopg.Connection, rng: np.random.Generator, day: date,
                 identity: np.random.Generator) -> None:
        self.conn, self.rng, self.day = conn, rng, day
        self.identity = identity  # addresses and IBANs of the day's new customers (identity.identity_rng)
        self.t0 = day_us(day)
        self.inserted = dict.fromkeys(SOURCE_TABLES, 0)
        self.updated = dict.fromkeys(SOURCE_TABLES, 0)

    def _times(self, n: int, hour_lo: int = 0, hour_hi: int = 24) -> np.ndarray:
        """Instants inside the day (never exactly midnight)."""
        return self.t0 + self.rng.integers(max(hour_lo * US_PER_HOUR, 1), hour_hi * US_PER_HOUR, n)

    def _max_id(self, table: str, column: str) -> int:
        row = self.conn.execute(f"SELECT coalesce(max({column}), 0) FROM {table}").fetchone()
        return int(row[0])  # type: ignore[index]

    def _copy(self, table: str, columns: dict[str, pa.Array]) -> None:
        n = len(next(iter(columns.values())))
        if n:
            copy_csv(self.conn, table, list(columns), [ar.to_csv(columns)])
            self.inserted[table] += n

    def run(self) -> None:
        conn = self.conn
        rows = conn.execute(
            "SELECT a.account_id, a.customer_id, a.overdraft_limit FROM accounts a "
            "WHERE a.account_type = 'current' AND a.status = 'active' ORDER BY a.account_id").fetchall()
        live_acc = np.array([r[0] for r in rows], np.int64)
        live_cust = np.array([r[1] for r in rows], np.int64)
        overdraft = _cents([r[2] for r in rows])
        out = RowCollector(self.t0, self.t0 + US_PER_DAY)
        if self.day.day == 1:
            self._monthly_charges(out)
        self._new_customers(out)
        self._book_scheduled(out)
        self._spending(live_acc, overdraft, out)
        self._investments(out)
        self._new_loans(live_acc, live_cust, out)
        self._profile_edits()
        tx = order_and_number(out.rows(), self._max_id("transactions", "transaction_id") + 1)
        self._copy("transactions", transaction_columns(tx))

    # -- parts ---------------------------------------------------------------------------------------------------
    def _monthly_charges(self, out: RowCollector) -> None:
        """First day of a month: account fees (each account keeps its plan), overdraft interest, savings interest."""
        rows = self.conn.execute("""
            SELECT a.account_id, a.account_type = 'savings',
                   coalesce(sum(t.amount) FILTER (WHERE t.status = 'booked'), 0),
                   (SELECT f.amount FROM transactions f WHERE f.account_id = a.account_id
                      AND f.transaction_type = 'fee' AND f.status = 'booked' ORDER BY f.booked_at DESC LIMIT 1)
            FROM accounts a LEFT JOIN transactions t ON t.account_id = a.account_id
            WHERE a.status = 'active' GROUP BY a.account_id ORDER BY a.account_id""").fetchall()
        if not rows:
            return
        acc = np.array([r[0] for r in rows], np.int64)
        savings = np.array([r[1] for r in rows], bool)
        balance = _cents([r[2] for r in rows])
        fee = _cents([r[3] if r[3] is not None else 0 for r in rows])
        zero = np.zeros(len(acc), np.int64)
        sel = fee < 0
        out.add(zero[sel], acc[sel], T["fee"], fee[sel], self._times(int(sel.sum()), 0, 6), D["fee"])
        sel = ~savings & (balance < 0)
        charge = (-balance[sel] * OVERDRAFT_RATE_BP + 119_999) // 120_000
        out.add(zero[sel], acc[sel], T["interest_charge"], -charge, self._times(int(sel.sum()), 1, 4),
                D["overdraft_interest"])
        payout = np.where(savings & (balance > 0), balance * SAVINGS_RATE_BP // 120_000, 0)
        sel = payout > 0
        out.add(zero[sel], acc[sel], T["interest_payout"], payout[sel], self._times(int(sel.sum()), 3, 5),
                D["savings_interest"])

    def _new_customers(self, out: RowCollector) -> None:
        rng = self.rng
        recent = self.conn.execute(
            "SELECT count(*) FROM customers WHERE created_at >= %s::timestamptz - interval '30 days'",
            (_ts(self.t0),)).fetchone()[0]  # type: ignore[index]
        k = max(1, int(rng.poisson(recent * SIGNUP_GROWTH / 30)))  # sign-ups keep their recent pace, at least one
        first_cust = self._max_id("customers", "customer_id") + 1
        first_acc = self._max_id("accounts", "account_id") + 1
        ids = np.arange(first_cust, first_cust + k, dtype=np.int64)
        acc = np.arange(first_acc, first_acc + k, dtype=np.int64)
        created = np.sort(self._times(k, 6, 20))
        fi, la = rng.integers(0, len(FIRST_NAMES), k), rng.integers(0, len(LAST_NAMES), k)
        first, last = ar.labels(fi, FIRST_NAMES), ar.labels(la, LAST_NAMES)
        local = pa.compute.binary_join_element_wise(ascii_slug(first), ascii_slug(last), pa.array(ids.astype(str)),
                                                    ".")
        email = pa.compute.binary_join_element_wise(local, ar.labels(rng.integers(0, len(EMAIL_DOMAINS), k),
                                                                     EMAIL_DOMAINS), "@")
        birth = (created - (rng.uniform(18, 75, k) * 365.25 * US_PER_DAY).astype(np.int64)) // US_PER_DAY
        country = rng.choice(len(COUNTRIES), k, p=[0.7, 0.07, 0.06, 0.05, 0.05, 0.03, 0.03, 0.01])
        self._copy("customers", {
            "customer_id": ar.ids(ids), "email": email,
            "full_name": pa.compute.binary_join_element_wise(first, last, " "),
            "country": ar.labels(country, COUNTRIES),
            "birth_date": ar.dates(birth), "created_at": ar.timestamps(created), "updated_at": ar.timestamps(created),
            **postal_addresses(self.identity, country, COUNTRIES),
        })
        opened = created + 5 * US_PER_MINUTE
        self._copy("accounts", {
            "account_id": ar.ids(acc), "customer_id": ar.ids(ids),
            "account_type": ar.labels(np.zeros(k, np.int8), ("current",)),
            "status": ar.labels(np.zeros(k, np.int8), ("active",)),
            "overdraft_limit": ar.money(np.where(rng.random(k) < 0.5, 0, rng.integers(1, 11, k) * 10_000)),
            "opened_at": ar.timestamps(opened), "closed_at": ar.timestamps(np.full(k, -1), null_below_zero=True),
            "updated_at": ar.timestamps(opened), "iban": ibans(self.identity, acc),
        })
        deposit = (np.exp(rng.normal(np.log(2300.0), 0.38, k)) * 150).astype(np.int64) // 100 * 100 + 100
        out.add(np.zeros(k, np.int64), acc, T["deposit"], deposit,
                np.minimum(opened + rng.integers(5 * US_PER_MINUTE, 40 * US_PER_MINUTE, k),
                           self.t0 + US_PER_DAY - 1), D["initial"])

    def _book_scheduled(self, out: RowCollector) -> None:
        """Orders due today (or overdue) become booked; loans follow; the next order of each series is scheduled."""
        conn = self.conn
        due = conn.execute(
            "SELECT transaction_id, account_id, transaction_type, amount, counterparty_account_id, loan_id, "
            "description FROM transactions WHERE status = 'scheduled' AND scheduled_for <= %s "
            "ORDER BY transaction_id", (self.day,)).fetchall()
        if not due:
            return
        tid = np.array([r[0] for r in due], np.int64)
        acc = np.array([r[1] for r in due], np.int64)
        ttype = np.array([TX_TYPES.index(r[2]) for r in due], np.int8)
        amount = _cents([r[3] for r in due])
        cp = np.array([r[4] if r[4] is not None else -1 for r in due], np.int64)
        loan = np.array([r[5] if r[5] is not None else -1 for r in due], np.int64)
        desc = [r[6] for r in due]
        # both legs of a standing P2P order execute at the same instant: derive it from the pair's common values
        key = np.where(cp >= 0, np.minimum(acc, cp), acc) * 7919 + np.abs(amount)
        booked = self.t0 + 6 * US_PER_HOUR + (key % (12 * 3600)) * US_PER_SECOND
        conn.execute(
            "UPDATE transactions t SET status = 'booked', booked_at = v.booked_at, updated_at = v.booked_at "
            "FROM unnest(%s::bigint[], %s::timestamptz[]) v(id, booked_at) WHERE t.transaction_id = v.id",
            (tid.tolist(), [_ts(x) for x in booked]))
        self.updated["transactions"] += len(tid)

        # loans: principal goes down by what was repaid; interest is charged on the balance before
        is_loan = loan >= 0
        remaining = np.zeros(len(tid), np.int64)
        if is_loan.any():
            info = conn.execute(
                "SELECT loan_id, outstanding_principal, principal, term_months, annual_rate FROM loans "
                "WHERE loan_id = ANY(%s) ORDER BY loan_id", (loan[is_loan].tolist(),)).fetchall()
            by_id = {r[0]: r for r in info}
            li = np.flatnonzero(is_loan)
            outstanding = _cents([by_id[int(x)][1] for x in loan[li]])
            principal = _cents([by_id[int(x)][2] for x in loan[li]])
            term = np.array([by_id[int(x)][3] for x in loan[li]], np.int64)
            rate_bp = np.array([int(by_id[int(x)][4] * 10000) for x in loan[li]], np.int64)
            repaid = np.minimum(-amount[li], outstanding)
            after = outstanding - repaid
            remaining[li] = np.minimum(after, -(-principal // term))
            conn.execute(
                "UPDATE loans l SET outstanding_principal = v.after, updated_at = v.at, "
                "status = CASE WHEN v.after = 0 THEN 'repaid' ELSE l.status END "
                "FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[]) v(id, after, at) WHERE l.loan_id = v.id",
                (loan[li].tolist(), _decimal_text(after), [_ts(x) for x in booked[li]]))
            self.updated["loans"] += len(li)
            interest = np.maximum(1, outstanding * rate_bp // 120_000)
            out.add(np.zeros(len(li), np.int64), acc[li], T["interest_charge"], -interest,
                    booked[li] - US_PER_MINUTE, D["loan_interest"])

        # next order of each series, SCHEDULE_AHEAD_DAYS later (a loan series ends when nothing is left to repay)
        nxt = ~is_loan | (remaining > 0)
        nxt_amount = np.where(is_loan, -remaining, amount)
        when = (self.day - EPOCH_DAY).days + SCHEDULE_AHEAD_DAYS
        created = self._times(int(nxt.sum()), 6, 23)
        dcode = np.array([_desc_code(x) for x in desc], np.int16)
        sel = np.flatnonzero(nxt)
        # the two new legs of a P2P order are created at the same instant, just after the booking
        created = np.where(cp[sel] >= 0, booked[sel] + US_PER_MINUTE, created)
        out.add(np.zeros(len(sel), np.int64), acc[sel], ttype[sel], nxt_amount[sel], created, dcode[sel],
                status=S["scheduled"], sched=np.full(len(sel), when, np.int32), cp=cp[sel], loan=loan[sel])

    def _spending(self, live_acc: np.ndarray, overdraft: np.ndarray, out: RowCollector) -> None:
        """Card payments, cash and P2P of the day; a payment beyond the available funds fails."""
        rng, n = self.rng, len(live_acc)
        if n == 0:
            return
        k = int(rng.poisson(SPEND_PER_CUSTOMER_DAY * n))
        who = np.sort(rng.integers(0, n, k))
        pairs = int(rng.poisson(P2P_PER_CUSTOMER_DAY * n)) if n >= 2 else 0
        sender = rng.integers(0, n, pairs)
        receiver = (sender + 1 + rng.integers(0, n - 1, pairs)) % n if n >= 2 else sender
        involved = np.unique(np.concatenate([who, sender]))
        rows = self.conn.execute(
            "SELECT account_id, sum(amount) FROM transactions WHERE status = 'booked' AND account_id = ANY(%s) "
            "GROUP BY account_id ORDER BY account_id", (live_acc[involved].tolist(),)).fetchall()
        balance = dict(zip([r[0] for r in rows], _cents([r[1] for r in rows]), strict=True))
        available = np.array([balance.get(int(a), 0) for a in live_acc[involved]], np.int64) + overdraft[involved]
        avail_of = np.zeros(n, np.int64)
        avail_of[involved] = available

        cash = rng.random(k) < 0.15
        amount = np.where(cash, rng.integers(2, 21, k) * 1000,
                          np.exp(rng.normal(np.log(2500.0), 0.9, k)).astype(np.int64).clip(100, 60_000))
        t = self._times(k, 6, 23)
        order = np.lexsort((t, who))
        who, cash, amount, t = who[order], cash[order], amount[order], t[order]
        spent = np.cumsum(amount)
        start = np.searchsorted(who, who)  # first row of each customer's block (who is sorted)
        running = spent - np.concatenate([[0], spent])[start]
        ok = running <= avail_of[who]
        status = np.where(ok, S["booked"], S["failed"])
        updated = np.where(ok, t, t + rng.integers(US_PER_SECOND, 5 * US_PER_MINUTE, k))
        for is_cash, ttype in ((True, T["withdrawal"]), (False, T["card_payment"])):
            sel = cash == is_cash
            desc = np.full(int(sel.sum()), D["atm"]) if is_cash else MERCHANT_BASE + rng.integers(
                0, len(MERCHANTS), int(sel.sum()))
            out.add(who[sel], live_acc[who[sel]], ttype, -amount[sel], t[sel], desc, status=status[sel],
                    updated=np.minimum(updated[sel], self.t0 + US_PER_DAY - 1))

        p2p = np.exp(rng.normal(np.log(3500.0), 0.9, pairs)).astype(np.int64).clip(500, 80_000)
        spent_today = np.bincount(who[ok], weights=amount[ok], minlength=n).round().astype(np.int64)
        ok = p2p + spent_today[sender] <= avail_of[sender] - 10_000  # P2P only with a cushion left
        s, r, p = sender[ok], receiver[ok], p2p[ok]
        t = self._times(len(s), 7, 22)
        out.add(s, live_acc[s], T["p2p_out"], -p, t, D["p2p_out"], cp=live_acc[r])
        out.add(r, live_acc[r], T["p2p_in"], p, t, D["p2p_in"], cp=live_acc[s])

    def _investments(self, out: RowCollector) -> None:
        rows = self.conn.execute(
            "SELECT i.investment_id, i.account_id, i.invested_amount FROM investments i "
            "JOIN accounts a USING (account_id) WHERE i.status = 'open' AND a.status = 'active' "
            "ORDER BY i.investment_id").fetchall()
        if not rows:
            return
        rng = self.rng
        inv = np.array([r[0] for r in rows], np.int64)
        acc = np.array([r[1] for r in rows], np.int64)
        held = _cents([r[2] for r in rows])
        moving = np.flatnonzero(rng.random(len(inv)) < INVESTMENT_MOVES_PER_DAY)
        sell = (rng.random(len(moving)) < 0.2) & (held[moving] > 10_000)
        delta = np.where(sell, -(held[moving] * rng.uniform(0.2, 0.6, len(moving))).astype(np.int64),
                         rng.integers(5, 51, len(moving)) * 1000)
        t = self._times(len(moving), 8, 20)
        out.add(np.zeros(len(moving), np.int64), acc[moving], np.where(sell, T["investment_sell"], T["investment_buy"]),
                -delta, t, np.where(sell, D["inv_sell"], D["inv_buy"]), inv=inv[moving])
        if len(moving):
            self.conn.execute(
                "UPDATE investments i SET invested_amount = i.invested_amount + v.delta, updated_at = v.at "
                "FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[]) v(id, delta, at) "
                "WHERE i.investment_id = v.id",
                (inv[moving].tolist(), _decimal_text(delta), [_ts(x) for x in t]))
            self.updated["investments"] += len(moving)

    def _new_loans(self, live_acc: np.ndarray, live_cust: np.ndarray, out: RowCollector) -> None:
        rng = self.rng
        k = int(rng.poisson(LOANS_PER_CUSTOMER_DAY * len(live_acc))) if len(live_acc) else 0
        if k == 0:
            return
        pick = np.unique(rng.integers(0, len(live_acc), k))
        k = len(pick)
        ids = np.arange(self._max_id("loans", "loan_id") + 1, self._max_id("loans", "loan_id") + 1 + k)
        principal = rng.integers(10, 101, k) * 10_000
        term = rng.choice(np.array([6, 12, 24, 36]), k)
        t = self._times(k, 9, 18)
        self._copy("loans", {
            "loan_id": ar.ids(ids), "customer_id": ar.ids(live_cust[pick]), "account_id": ar.ids(live_acc[pick]),
            "principal": ar.money(principal), "annual_rate": ar.fixed_point(rng.integers(290, 1190, k), 4),
            "term_months": ar.ids(term), "status": ar.labels(np.zeros(k, np.int8), ("active",)),
            "outstanding_principal": ar.money(principal), "disbursed_at": ar.timestamps(t),
            "updated_at": ar.timestamps(t),
        })
        out.add(pick, live_acc[pick], T["loan_disbursement"], principal, t, D["loan_disbursement"], loan=ids)
        instalment = -(-principal // term)
        out.add(pick, live_acc[pick], T["loan_repayment"], -instalment, t + US_PER_MINUTE,
                D["loan_instalment"], status=S["scheduled"], loan=ids,
                sched=np.full(k, (self.day - EPOCH_DAY).days + SCHEDULE_AHEAD_DAYS, np.int32))

    def _profile_edits(self) -> None:
        """A few customers change their e-mail address or their name."""
        rng = self.rng
        n = self._max_id("customers", "customer_id")
        k = max(1, int(rng.poisson(PROFILE_EDITS_PER_CUSTOMER_DAY * n)))
        ids = np.unique(rng.integers(1, n + 1, k))
        t = self._times(len(ids), 0, 24)
        new_last = [LAST_NAMES[i] for i in rng.integers(0, len(LAST_NAMES), len(ids))]
        domain = [EMAIL_DOMAINS[i] for i in rng.integers(0, len(EMAIL_DOMAINS), len(ids))]
        rename = rng.random(len(ids)) < 0.3
        stamp = f"{self.day:%y%m%d}"
        cur = self.conn.execute(
            "UPDATE customers c SET email = CASE WHEN v.rename THEN c.email "
            "  ELSE split_part(c.email, '@', 1) || '.' || %s || '@' || v.domain END, "
            " full_name = CASE WHEN v.rename THEN split_part(c.full_name, ' ', 1) || ' ' || v.last "
            "  ELSE c.full_name END, updated_at = v.at "
            "FROM unnest(%s::bigint[], %s::bool[], %s::text[], %s::text[], %s::timestamptz[]) "
            "v(id, rename, last, domain, at) WHERE c.customer_id = v.id AND c.created_at < v.at",
            (stamp, ids.tolist(), rename.tolist(), new_last, domain, [_ts(x) for x in t]))
        self.updated["customers"] += max(cur.rowcount, 0)


def _desc_code(text: str) -> int:
    return DESCRIPTIONS.index(text) if text in DESCRIPTIONS else D["standing_p2p"]


def _ts(us: int | np.integer) -> str:
    return us_to_datetime(int(us)).isoformat()


def simulate_days(dsn: str, *, days: int, seed: int) -> SimulateSummary:
    """Add `days` days of activity after the data's current day; one transaction per day."""
    if days < 1:
        raise GeneratorArgumentError(f"days must be at least 1, got {days}")
    started = time.perf_counter()
    inserted = dict.fromkeys(SOURCE_TABLES, 0)
    updated = dict.fromkeys(SOURCE_TABLES, 0)
    done: list[date] = []
    with connect(dsn) as conn:
        for _ in range(days):
            today = current_day(conn)
            if today is None:
                raise EmptySourceError("the source is empty: run `finefin source generate` before simulating days")
            day = today + timedelta(days=1)
            sim = _Day(conn, np.random.default_rng([seed, day.toordinal()]), day, identity_rng(seed, day.toordinal()))
            sim.run()
            conn.commit()
            for table in SOURCE_TABLES:
                inserted[table] += sim.inserted[table]
                updated[table] += sim.updated[table]
            done.append(day)
            log.info("simulated %s: inserted %s, updated %s", day, sim.inserted, sim.updated)
    return SimulateSummary(days=done, inserted=inserted, updated=updated, seconds=time.perf_counter() - started)
