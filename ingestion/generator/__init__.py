"""Synthetic data for the operational PostgreSQL: a deterministic history (`generate`) and daily activity
(`simulate_days`).

What the data holds (shares are per customer, drawn once from the seed):
- a postal address in the customer's country and, per account, a unique French IBAN (FR76…, valid check digits), from
  their own random stream (identity.py), so the rest of the data is what it was before they existed;
- sign-ups growing ~7 % a month; one current account each (id = customer id), a savings account for ~35 % (never
  for red personas), ~15 % of those emptied and closed later; ~30 % of red personas whose streak is ongoing have
  their current account frozen;
- a monthly salary (day 1-4), rent standing orders (`withdrawal`, "Rent - standing order") for ~60 %, transfers to
  savings (`withdrawal` "Transfer to savings" + savings `deposit`), card payments, cash (`withdrawal` "ATM
  withdrawal"; heavy withdrawers ~10 % take most of their spending in cash), P2P pairs (p2p_out/p2p_in, same amount
  and instant, each pointing at the other account);
- red personas (~8 %): 3-8 consecutive month-ends with a negative total balance, mostly within the overdraft
  limit, ~35 % still ongoing at end_date; overdraft interest (`interest_charge` "Overdraft interest") on the day 1
  after a negative month-end;
- borrowers (~12 %): `loan_disbursement`, a large purchase, monthly `loan_repayment` (principal) + `interest_charge`
  ("Loan interest"); some loans repaid, ~8 % stop paying and are `defaulted`;
- investors (~15 %): `investment_buy` / `investment_sell` at cost basis, some positions closed;
- monthly account fees (free plan for ~40 %), savings interest (`interest_payout`);
- ~2 % cancelled/failed attempts (booked_at NULL); scheduled salary, rent, instalments and standing P2P orders in
  (end_date, end_date + 30 days].

Modules: calendar (month windows), vocab (codes, names), population (customers, accounts, personas), products
(loans, investments), ledger (month-by-month transactions), arrow_rows / pg_binary (COPY encodings), bulk_load
(COPY, keys and indexes), generate, simulate, summary.
"""

from ingestion.generator.generate import GeneratorArgumentError, SourceNotEmptyError, generate
from ingestion.generator.simulate import EmptySourceError, simulate_days
from ingestion.generator.summary import GenerateSummary, SimulateSummary

__all__ = [
    "EmptySourceError", "GenerateSummary", "GeneratorArgumentError", "SimulateSummary", "SourceNotEmptyError",
    "generate", "simulate_days",
]
