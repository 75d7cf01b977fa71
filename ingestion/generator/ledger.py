"""The month-by-month ledger: every transaction of the history, vectorized over customers, one chunk per month.

Month-end balances follow a plan: fixed flows (salary, rent, fees, interest, savings, loans, investments, P2P) are
drawn first; everyday spending (card payments, cash withdrawals) is then sized so the customer's month-end balance
lands on a target: around a personal comfort level, or below zero during a red persona's planned streak.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ingestion.generator.calendar import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE, US_PER_SECOND, HistoryCalendar
from ingestion.generator.population import Population
from ingestion.generator.products import InvestmentBook, LoanBook
from ingestion.generator.vocab import MERCHANT_BASE, MERCHANTS, D, S, T

log = logging.getLogger(__name__)

COLUMNS = ("transaction_id", "account_id", "transaction_type", "amount", "status", "booked_at", "scheduled_for",
           "counterparty_account_id", "loan_id", "investment_id", "description", "created_at", "updated_at")

OVERDRAFT_RATE_BP = 1500   # 15 % a year on negative balances
SAVINGS_RATE_BP = 200      # 2 % a year on savings
P2P_PER_CUSTOMER_MONTH = 1.0
FAILED_PER_CUSTOMER_MONTH = 0.3
STANDING_P2P_SHARE = 0.08
FROZEN_SHARE_OF_ONGOING_RED = 0.3


@dataclass
class TxRows:
    """Transaction columns of one chunk (numpy); -1 marks NULL in id, time and date columns."""

    cust: np.ndarray
    account_id: np.ndarray
    transaction_type: np.ndarray
    amount: np.ndarray
    status: np.ndarray
    booked_at: np.ndarray
    scheduled_for: np.ndarray
    counterparty_account_id: np.ndarray
    loan_id: np.ndarray
    investment_id: np.ndarray
    description: np.ndarray
    created_at: np.ndarray
    updated_at: np.ndarray
    transaction_id: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.cust)

    def slice(self, start: int, stop: int) -> TxRows:
        return TxRows(**{k: getattr(self, k)[start:stop] for k in self.__dataclass_fields__})


class RowCollector:
    """Accumulates blocks of rows of one chunk; rows whose instant is outside [lo, hi) are dropped."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, cust: np.ndarray, account: np.ndarray, ttype: int | np.ndarray, amount: np.ndarray, time: np.ndarray,
            desc: int | np.ndarray, *, status: int | np.ndarray = 0, cp: np.ndarray | None = None,
            loan: np.ndarray | None = None, inv: np.ndarray | None = None, sched: np.ndarray | None = None,
            updated: np.ndarray | None = None) -> None:
        n = len(cust)
        if n == 0:
            return

        def full(value: object, dtype: type) -> np.ndarray:
            return np.broadcast_to(np.asarray(-1 if value is None else value, dtype=dtype), (n,)).copy()

        time = np.asarray(time, np.int64)
        status_a = full(status, np.int8)
        part = {
            "cust": np.asarray(cust, np.int64), "account_id": full(account, np.int64),
            "transaction_type": full(ttype, np.int8), "amount": np.asarray(amount, np.int64),
            "status": status_a, "booked_at": np.where(status_a == S["booked"], time, -1),
            "scheduled_for": full(sched, np.int32), "counterparty_account_id": full(cp, np.int64),
            "loan_id": full(loan, np.int64), "investment_id": full(inv, np.int64),
            "description": full(desc, np.int16), "created_at": time,
            "updated_at": time if updated is None else np.asarray(updated, np.int64),
        }
        keep = (time >= self.lo) & (time < self.hi)
        if not keep.all():
            part = {k: v[keep] for k, v in part.items()}
        self.parts.append(part)

    def rows(self) -> TxRows:
        names = [f for f in TxRows.__dataclass_fields__ if f != "transaction_id"]
        if not self.parts:
            return TxRows(**{k: np.empty(0, np.int64) for k in names})
        return TxRows(**{k: np.concatenate([p[k] for p in self.parts]) for k in names})


def order_and_number(rows: TxRows, first_id: int) -> TxRows:
    """Sort by creation instant (ties keep generation order) and number ids from `first_id`."""
    order = np.argsort(rows.created_at, kind="stable")
    fields = {k: getattr(rows, k)[order] for k in TxRows.__dataclass_fields__ if k != "transaction_id"}
    return TxRows(**fields, transaction_id=np.arange(first_id, first_id + len(order), dtype=np.int64))


def _split(rng: np.random.Generator, total: np.ndarray, counts: np.ndarray, minimum: int,
           scale: np.ndarray | None = None, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Split each total[g] into counts[g] positive parts (random weights); returns (group index, amounts).

    Parts are at least `minimum` and multiples of `step` when step > 1 (then they may sum below the total and
    parts rounded to zero are dropped; the caller books the difference elsewhere).
    """
    group = np.repeat(np.arange(len(total)), counts)
    weights = rng.exponential(1.0, len(group)) + 0.3
    if scale is not None:
        weights *= np.repeat(scale, counts)
    sums = np.bincount(group, weights=weights, minlength=len(total))
    spare = np.maximum(total - counts * minimum, 0)
    share = np.floor(spare[group] * (weights / sums[group])).astype(np.int64)
    if step > 1:
        amounts = (minimum + share) // step * step
        keep = amounts > 0
        return group[keep], amounts[keep]
    amounts = minimum + share
    leftover = total - np.bincount(group, weights=amounts, minlength=len(total)).round().astype(np.int64)
    first = np.cumsum(counts) - counts
    has = counts > 0
    amounts[first[has]] += leftover[has]
    return group, amounts


class Ledger:
    """Steps the months; `chunks()` yields one numbered TxRows per month, then the scheduled (future) rows."""

    def __init__(self, rng: np.random.Generator, pop: Population, cal: HistoryCalendar, loans: LoanBook,
                 investments: InvestmentBook) -> None:
        self.rng, self.pop, self.cal, self.loans, self.inv = rng, pop, cal, loans, investments
        n = pop.n
        self.balance = np.zeros(n, np.int64)           # current account, booked
        self.savings = np.zeros(n, np.int64)
        self.savings_closed_at = np.full(n, -1, np.int64)
        self.frozen_at = np.full(n, -1, np.int64)
        self.month_end_balances: list[np.ndarray] = []  # total per customer, for checks and logs
        self.next_id = 1

    # -- helpers -------------------------------------------------------------------------------------------------
    def _at_day(self, m: int, day: np.ndarray | int, n: int, hour_lo: int, hour_hi: int) -> np.ndarray:
        day = np.broadcast_to(np.asarray(day), (n,))
        return self.cal.day_in_month(np.full(n, m), day) + self.rng.integers(
            hour_lo * US_PER_HOUR, hour_hi * US_PER_HOUR, n)

    def _uniform(self, lo: np.ndarray, hi: np.ndarray | int) -> np.ndarray:
        return lo + (self.rng.random(len(lo)) * (hi - lo)).astype(np.int64)

    def _merchant(self, n: int) -> np.ndarray:
        return MERCHANT_BASE + self.rng.integers(0, len(MERCHANTS), n)

    # -- one month -----------------------------------------------------------------------------------------------
    def _month(self, m: int) -> TxRows:
        rng, pop, cal = self.rng, self.pop, self.cal
        start, end = int(cal.month_starts[m]), int(cal.window_ends[m])
        n_active = int(np.searchsorted(pop.signup_month, m, side="right"))  # customers are sorted by sign-up
        active = np.arange(n_active)
        new = pop.signup_month[active] == m
        old, fresh = active[~new], active[new]
        cur = pop.current_id
        out = RowCollector(start, end)
        # earliest activity of each customer this month
        earliest = np.maximum(start, pop.created_at + US_PER_HOUR)

        out.add(c := old[pop.fee[old] > 0], cur[c], T["fee"], -pop.fee[c], self._at_day(m, 1, len(c), 0, 6), D["fee"])
        c = old[self.balance[old] < 0]
        out.add(c, cur[c], T["interest_charge"], -((-self.balance[c] * OVERDRAFT_RATE_BP + 119_999) // 120_000),
                self._at_day(m, 1, len(c), 1, 4), D["overdraft_interest"])
        salary = (pop.income[old] * rng.uniform(0.98, 1.02, len(old))).astype(np.int64)
        out.add(old, cur[old], T["deposit"], salary, self._at_day(m, pop.salary_day[old], len(old), 6, 10),
                D["salary"])
        initial = (pop.income[fresh] + pop.comfort[fresh] * rng.uniform(0.8, 1.2, len(fresh))).astype(np.int64)
        initial = initial // 100 * 100
        out.add(fresh, cur[fresh], T["deposit"], initial,
                pop.created_at[fresh] + rng.integers(10 * US_PER_MINUTE, 50 * US_PER_MINUTE, len(fresh)),
                D["initial"])
        c = old[pop.rent[old] > 0]
        out.add(c, cur[c], T["withdrawal"], -pop.rent[c], self._at_day(m, pop.rent_day[c], len(c), 7, 12), D["rent"])

        self._savings(m, old, out)
        self._loans(m, out)
        self._investments(m, out)
        self._p2p(m, active, new, earliest, end, out)

        fixed = out.rows()
        on_current = (fixed.account_id == cur[fixed.cust]) & (fixed.status == S["booked"])
        net = np.bincount(fixed.cust[on_current], weights=fixed.amount[on_current], minlength=pop.n)
        net = net.round().astype(np.int64)[:n_active]
        del fixed
        self._spending(m, active, new, net, earliest, end, out)
        self._failed(m, active, earliest, end, out)

        rows = out.rows()
        booked_cur = (rows.account_id == cur[rows.cust]) & (rows.status == S["booked"])
        self.balance += np.bincount(rows.cust[booked_cur], weights=rows.amount[booked_cur],
                                    minlength=pop.n).round().astype(np.int64)
        self.month_end_balances.append(self.balance + self.savings)
        if m == cal.months - 1:
            self._freeze(rows, booked_cur)
        return rows

    def _savings(self, m: int, old: np.ndarray, out: RowCollector) -> None:
        pop, cur = self.pop, self.pop.current_id
        close = pop.savings_close_month
        sav = old[(pop.savings_id[old] > 0) & (pop.savings_month[old] < m) & ((close[old] < 0) | (close[old] >= m))]
        payout = self.savings[sav] * SAVINGS_RATE_BP // 120_000
        c, amount = sav[payout > 0], payout[payout > 0]
        out.add(c, pop.savings_id[c], T["interest_payout"], amount, self._at_day(m, 1, len(c), 3, 5),
                D["savings_interest"])
        self.savings[c] += amount
        c = sav[close[sav] != m]
        t = self._at_day(m, self.rng.integers(6, 11, len(c)), len(c), 8, 12)
        ok = t < self.cal.window_ends[m]
        c, t = c[ok], t[ok]
        out.add(c, cur[c], T["withdrawal"], -pop.savings_transfer[c], t, D["to_savings"])
        out.add(c, pop.savings_id[c], T["deposit"], pop.savings_transfer[c], t, D["from_current"])
        self.savings[c] += pop.savings_transfer[c]
        c = sav[close[sav] == m]  # close month is never the last (partial) month
        t = self._at_day(m, 15, len(c), 10, 16)
        moved = c[self.savings[c] > 0]
        tm = t[self.savings[c] > 0]
        out.add(moved, pop.savings_id[moved], T["withdrawal"], -self.savings[moved], tm, D["to_current"])
        out.add(moved, cur[moved], T["deposit"], self.savings[moved], tm, D["from_savings"])
        self.savings[c] = 0
        self.savings_closed_at[c] = t + US_PER_HOUR

    def _loans(self, m: int, out: RowCollector) -> None:
        lb, cur = self.loans, self.pop.current_id
        ev = lb.month_events(m)
        j = lb.ev_loan[ev]
        c = lb.cust[j]
        out.add(c, cur[c], T["interest_charge"], -lb.ev_interest[ev], lb.ev_time[ev] - US_PER_MINUTE,
                D["loan_interest"])
        out.add(c, cur[c], T["loan_repayment"], -lb.ev_principal[ev], lb.ev_time[ev], D["loan_instalment"],
                loan=lb.loan_id[j])
        lo, hi = np.searchsorted(lb.disb_month, [m, m + 1])
        j = np.arange(lo, hi)
        c = lb.cust[j]
        out.add(c, cur[c], T["loan_disbursement"], lb.principal[j], lb.disbursed_at[j], D["loan_disbursement"],
                loan=lb.loan_id[j])
        # what the loan was for: one large purchase a few hours or days later
        t = np.minimum(lb.disbursed_at[j] + self.rng.integers(US_PER_HOUR, 3 * US_PER_DAY, len(j)),
                       self.cal.window_ends[m] - US_PER_MINUTE)
        price = (lb.principal[j] * self.rng.uniform(0.6, 0.95, len(j))).astype(np.int64)
        out.add(c, cur[c], T["card_payment"], -price, t, self._merchant(len(j)))

    def _investments(self, m: int, out: RowCollector) -> None:
        rng, ib, pop = self.rng, self.inv, self.pop
        cur, end = pop.current_id, int(self.cal.window_ends[m])
        j = np.flatnonzero(ib.open_month == m)
        amount = np.where(ib.lump_sum[j] > 0, ib.lump_sum[j], rng.integers(10, 201, len(j)) * 1000)
        c = ib.cust[j]
        # a big investor's lump sum arrives from another bank shortly before it is invested
        lump = ib.lump_sum[j] > 0
        out.add(c[lump], cur[c[lump]], T["deposit"], amount[lump],
                np.maximum(ib.opened_at[j[lump]] - 20 * US_PER_MINUTE, out.lo), D["transfer_in"])
        out.add(c, cur[c], T["investment_buy"], -amount, ib.opened_at[j], D["inv_buy"], inv=ib.investment_id[j])
        ib.invested[j] += amount
        running = np.flatnonzero((ib.open_month < m) & (ib.closed_at < 0))
        closing = running[ib.close_month[running] == m]
        t = self._at_day(m, 12, len(closing), 10, 16)
        c = ib.cust[closing]
        out.add(c, cur[c], T["investment_sell"], ib.invested[closing], t, D["inv_sell"],
                inv=ib.investment_id[closing])
        ib.invested[closing] = 0
        ib.closed_at[closing] = t
        ib.updated_at[closing] = t
        running = running[ib.close_month[running] != m]
        buy = running[rng.random(len(running)) < 0.5]
        t = self._at_day(m, rng.integers(15, 21, len(buy)), len(buy), 8, 20)
        buy, t = buy[t < end], t[t < end]
        c = ib.cust[buy]
        amount = np.maximum(1000, (pop.income[c] * rng.uniform(0.02, 0.10, len(buy))).astype(np.int64) // 1000 * 1000)
        out.add(c, cur[c], T["investment_buy"], -amount, t, D["inv_buy"], inv=ib.investment_id[buy])
        ib.invested[buy] += amount
        ib.updated_at[buy] = t
        sell = running[(rng.random(len(running)) < 0.06) & (ib.invested[running] > 10_000)]
        t = self._at_day(m, rng.integers(21, 27, len(sell)), len(sell), 8, 20)
        sell, t = sell[t < end], t[t < end]
        amount = (ib.invested[sell] * rng.uniform(0.2, 0.6, len(sell))).astype(np.int64)
        held = ib.lump_sum[sell] > 0  # a big investor's lump sum stays invested
        sell, t, amount = sell[~held], t[~held], amount[~held]
        c = ib.cust[sell]
        out.add(c, cur[c], T["investment_sell"], amount, t, D["inv_sell"], inv=ib.investment_id[sell])
        ib.invested[sell] -= amount
        ib.updated_at[sell] = t

    def _p2p(self, m: int, active: np.ndarray, new: np.ndarray, earliest: np.ndarray, end: int,
             out: RowCollector) -> None:
        rng, cur = self.rng, self.pop.current_id
        senders_pool = np.flatnonzero(~new)
        if len(active) < 2 or len(senders_pool) == 0:
            return
        k = int(rng.poisson(P2P_PER_CUSTOMER_MONTH * len(senders_pool)))
        s = senders_pool[rng.integers(0, len(senders_pool), k)]
        r = (s + 1 + rng.integers(0, len(active) - 1, k)) % len(active)
        t = np.maximum(self._uniform(np.full(k, out.lo), end - US_PER_MINUTE),
                       np.maximum(earliest[s], earliest[r]))
        amount = np.exp(rng.normal(np.log(3500.0), 0.9, k)).astype(np.int64).clip(500, 80_000)
        amount = np.where(rng.random(k) < 0.4, amount // 100 * 100, amount)
        out.add(s, cur[s], T["p2p_out"], -amount, t, D["p2p_out"], cp=cur[r])
        out.add(r, cur[r], T["p2p_in"], amount, t, D["p2p_in"], cp=cur[s])

    def _spending(self, m: int, active: np.ndarray, new: np.ndarray, net: np.ndarray, earliest: np.ndarray,
                  end: int, out: RowCollector) -> None:
        """Card payments and cash withdrawals sized so the month ends on the planned balance."""
        rng, pop, cur = self.rng, self.pop, self.pop.current_id
        n = len(active)
        heavy = pop.heavy[active]
        in_red = (pop.red_start[active] <= m) & (m < pop.red_end[active])
        target = np.where(in_red, -(pop.overdraft[active] * rng.uniform(0.15, 0.9, n)),
                          pop.comfort[active] * rng.uniform(0.85, 1.2, n)).astype(np.int64)
        span = (end - earliest[active]) / (end - out.lo)  # share of the month the customer is active
        # a new customer spends a share of an income in the rest of the sign-up month
        target = np.where(new, net - (pop.income[active] * span * rng.uniform(0.6, 1.0, n)).astype(np.int64),
                          target)
        n_card = 1 + np.rint(rng.poisson(np.where(heavy, 6.0, 12.0), n) * span).astype(np.int64)
        n_cash = np.rint(rng.poisson(np.where(heavy, 5.5, 0.8), n) * span).astype(np.int64)
        spend = np.maximum(self.balance[active] + net - target, (n_card + n_cash) * 500)
        # cash: a share of the spending, in round 10-euro notes; cards take the rest
        cash_share = np.where(heavy, rng.uniform(0.55, 0.85, n), rng.uniform(0.05, 0.25, n)) * (n_cash > 0)
        cash_budget = ((spend - n_card * 500) * cash_share).astype(np.int64)
        g, cash = _split(rng, cash_budget, n_cash, 0, step=1000)
        c = active[g]
        out.add(c, cur[c], T["withdrawal"], -cash, self._uniform(earliest[c], end), D["atm"])
        card_total = spend - np.bincount(g, weights=cash, minlength=n).round().astype(np.int64)
        g, card = _split(rng, card_total, n_card, 100)
        c = active[g]
        out.add(c, cur[c], T["card_payment"], -card, self._uniform(earliest[c], end), self._merchant(len(c)))

    def _failed(self, m: int, active: np.ndarray, earliest: np.ndarray, end: int, out: RowCollector) -> None:
        """Cancelled or failed attempts: never booked, so they never move a balance."""
        rng, cur = self.rng, self.pop.current_id
        k = int(rng.poisson(FAILED_PER_CUSTOMER_MONTH * len(active)))
        c = active[rng.integers(0, len(active), k)] if len(active) else np.empty(0, np.int64)
        t = self._uniform(earliest[c], end - US_PER_MINUTE)
        cash = rng.random(k) < 0.2
        amount = np.exp(rng.normal(np.log(4000.0), 0.8, k)).astype(np.int64).clip(100, 50_000)
        status = np.where(rng.random(k) < 0.55, S["cancelled"], S["failed"])
        updated = np.minimum(t + rng.integers(US_PER_SECOND, 30 * US_PER_MINUTE, k), end - 1)
        for is_cash, ttype in ((True, T["withdrawal"]), (False, T["card_payment"])):
            sel = cash == is_cash
            desc = np.full(int(sel.sum()), D["atm"]) if is_cash else self._merchant(int(sel.sum()))
            out.add(c[sel], cur[c[sel]], ttype, -amount[sel], t[sel], desc, status=status[sel], updated=updated[sel])

    def _freeze(self, rows: TxRows, booked_cur: np.ndarray) -> None:
        """Freeze some accounts of customers still in the red at the end, after their last movement."""
        pop, rng = self.pop, self.rng
        ongoing = np.flatnonzero((pop.red_end == self.cal.months) & (rng.random(pop.n) < FROZEN_SHARE_OF_ONGOING_RED))
        last = np.full(pop.n, -1, np.int64)
        np.maximum.at(last, rows.cust[booked_cur], rows.booked_at[booked_cur])
        when = np.maximum(last[ongoing], pop.created_at[ongoing] + US_PER_DAY) + US_PER_HOUR
        self.frozen_at[ongoing] = np.minimum(when, self.cal.end_us - 1)

    # -- after the history ---------------------------------------------------------------------------------------
    def _scheduled(self) -> TxRows:
        """Standing orders and instalments due in (end_date, end_date + 30 days], status 'scheduled'."""
        rng, pop, cal, lb = self.rng, self.pop, self.cal, self.loans
        cur, n = pop.current_id, pop.n
        end_day = cal.end_us // US_PER_DAY - 1
        out = RowCollector(cal.start_us, cal.end_us)
        live = self.frozen_at < 0
        created = np.maximum(cal.end_us - rng.integers(US_PER_HOUR, 5 * US_PER_DAY, n),
                             pop.created_at + 10 * US_PER_MINUTE)

        def due(day: np.ndarray, not_this_month: np.ndarray | None = None) -> np.ndarray:
            d = next_monthly_date(cal, day)
            if not_this_month is not None:
                later = next_monthly_date(cal, day, skip_current=True)
                d = np.where(not_this_month, later, d)
            return np.where(d <= end_day + 30, d, -1)

        sched = S["scheduled"]
        c = np.flatnonzero(live)
        d = due(pop.salary_day[c])
        c, d = c[d >= 0], d[d >= 0]
        out.add(c, cur[c], T["deposit"], pop.income[c], created[c], D["salary"], status=sched, sched=d)
        c = np.flatnonzero(live & (pop.rent > 0))
        d = due(pop.rent_day[c])
        c, d = c[d >= 0], d[d >= 0]
        out.add(c, cur[c], T["withdrawal"], -pop.rent[c], created[c], D["rent"], status=sched, sched=d)
        j = np.flatnonzero((lb.status == 0) & (lb.outstanding > 0) & live[lb.cust])
        d = due(lb.repay_day[j], not_this_month=lb.disb_month[j] == cal.months - 1)
        j, d = j[d >= 0], d[d >= 0]
        c = lb.cust[j]
        out.add(c, cur[c], T["loan_repayment"], -np.minimum(lb.instalment[j], lb.outstanding[j]),
                np.maximum(created[c], lb.disbursed_at[j] + US_PER_MINUTE), D["loan_instalment"], status=sched,
                sched=d, loan=lb.loan_id[j])
        pool = np.flatnonzero(live)
        if len(pool) >= 2:
            s = pool[rng.random(len(pool)) < STANDING_P2P_SHARE]
            r = pool[(np.searchsorted(pool, s) + 1 + rng.integers(0, len(pool) - 1, len(s))) % len(pool)]
            d = due(rng.integers(1, 29, len(s)))
            s, r, d = s[d >= 0], r[d >= 0], d[d >= 0]
            amount = rng.integers(4, 41, len(s)) * 500
            t = np.maximum(created[s], created[r])
            out.add(s, cur[s], T["p2p_out"], -amount, t, D["standing_p2p"], status=sched, sched=d, cp=cur[r])
            out.add(r, cur[r], T["p2p_in"], amount, t, D["standing_p2p"], status=sched, sched=d, cp=cur[s])
        return out.rows()

    def chunks(self) -> Iterator[TxRows]:
        for m in range(self.cal.months):
            rows = order_and_number(self._month(m), self.next_id)
            self.next_id += len(rows)
            red = int((self.month_end_balances[-1] < 0).sum())
            log.info("month %d/%d: %d transactions, %d customers in the red", m + 1, self.cal.months, len(rows), red)
            yield rows
        rows = order_and_number(self._scheduled(), self.next_id)
        self.next_id += len(rows)
        yield rows


def next_monthly_date(cal: HistoryCalendar, day: np.ndarray, skip_current: bool = False) -> np.ndarray:
    """Epoch day of the first date after end_date falling on day-of-month `day` (clipped to the month length)."""
    day = np.asarray(day, np.int64)
    end_day = cal.end_us // US_PER_DAY - 1
    month = np.datetime64(cal.end_date, "M")
    bounds = np.array([month, month + 1, month + 2]).astype("datetime64[D]").astype(np.int64)
    this = bounds[0] + np.minimum(day, bounds[1] - bounds[0]) - 1
    following = bounds[1] + np.minimum(day, bounds[2] - bounds[1]) - 1
    if skip_current:
        return following
    return np.where(this > end_day, this, following)
