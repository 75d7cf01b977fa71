-- FineFinance operational database (the app's PostgreSQL). Owned by finefin; applied by `finefin source init`.
-- Money is numeric(14,2), never float. Every table carries updated_at (indexed) for incremental extraction.
-- Sign convention on transactions.amount: money into the account is positive, money out is negative.

CREATE TABLE IF NOT EXISTS customers (
    customer_id   bigint       PRIMARY KEY,
    email         text         NOT NULL,
    full_name     text         NOT NULL CHECK (length(btrim(full_name)) > 0),
    country       char(2)      NOT NULL DEFAULT 'FR' CHECK (country ~ '^[A-Z]{2}$'),
    birth_date    date         NOT NULL CHECK (birth_date > DATE '1900-01-01'),
    created_at    timestamptz  NOT NULL,
    updated_at    timestamptz  NOT NULL,
    CONSTRAINT customers_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    CONSTRAINT customers_updated_after_created CHECK (updated_at >= created_at)
);
-- Postal address (issue #12, for statements). Added after the first release: ADD COLUMN IF NOT EXISTS brings a
-- database created before up to date when `finefin source init` re-applies this file. Nullable for that reason
-- (rows created before have no address); the generator fills all three. The country is `country` above.
ALTER TABLE customers
    ADD COLUMN IF NOT EXISTS street       text CHECK (length(btrim(street)) > 0),
    ADD COLUMN IF NOT EXISTS postal_code  text CHECK (postal_code ~ '^[A-Z0-9][A-Z0-9 -]{1,9}$'),
    ADD COLUMN IF NOT EXISTS city         text CHECK (length(btrim(city)) > 0);
CREATE UNIQUE INDEX IF NOT EXISTS customers_email_key ON customers (lower(email));
CREATE INDEX IF NOT EXISTS customers_updated_at_idx ON customers (updated_at);

CREATE TABLE IF NOT EXISTS accounts (
    account_id       bigint         PRIMARY KEY,
    customer_id      bigint         NOT NULL REFERENCES customers (customer_id),
    account_type     text           NOT NULL CHECK (account_type IN ('current', 'savings')),
    currency         char(3)        NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    status           text           NOT NULL CHECK (status IN ('active', 'frozen', 'closed')),
    overdraft_limit  numeric(14,2)  NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
    opened_at        timestamptz    NOT NULL,
    closed_at        timestamptz,
    updated_at       timestamptz    NOT NULL,
    CONSTRAINT accounts_closed_after_opened CHECK (closed_at IS NULL OR closed_at >= opened_at),
    CONSTRAINT accounts_closed_status CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CONSTRAINT accounts_updated_after_opened CHECK (updated_at >= opened_at)
);
-- The account identifier a customer recognises (issue #12): an IBAN in electronic form (no spaces), unique.
-- Added after the first release, hence ADD COLUMN IF NOT EXISTS; accounts created before get one below.
ALTER TABLE accounts
    ADD COLUMN IF NOT EXISTS iban  text CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$');
CREATE UNIQUE INDEX IF NOT EXISTS accounts_iban_key ON accounts (iban);
-- Backfill for accounts created before the column existed (a no-op afterwards): a French IBAN, bank code 17569,
-- branch 00000 (never used by the generator), the account number a bijection of account_id (as the generator's,
-- ingestion/generator/identity.py), RIB key and IBAN check digits computed as the standards define them.
-- updated_at moves to now() so that the ingestion cursor carries the new IBANs to the warehouse.
WITH numbered AS (
    SELECT account_id,
           '1756900000' || lpad(((account_id::numeric * 3141592653 + 27182818284) % 100000000000)::text, 11, '0')
               AS bank_branch_account
    FROM accounts WHERE iban IS NULL
), keyed AS (
    SELECT account_id,
           bank_branch_account || lpad((97 - (89 * substr(bank_branch_account, 1, 5)::numeric
                                             + 15 * substr(bank_branch_account, 6, 5)::numeric
                                             + 3 * substr(bank_branch_account, 11, 11)::numeric) % 97)::text, 2, '0')
               AS bban
    FROM numbered
)
UPDATE accounts a
SET iban = 'FR' || lpad((98 - (keyed.bban || '152700')::numeric % 97)::text, 2, '0') || keyed.bban,
    updated_at = greatest(a.updated_at, now())
FROM keyed WHERE a.account_id = keyed.account_id;
CREATE INDEX IF NOT EXISTS accounts_customer_idx ON accounts (customer_id);
CREATE INDEX IF NOT EXISTS accounts_updated_at_idx ON accounts (updated_at);

CREATE TABLE IF NOT EXISTS loans (
    loan_id                bigint         PRIMARY KEY,
    customer_id            bigint         NOT NULL REFERENCES customers (customer_id),
    account_id             bigint         NOT NULL REFERENCES accounts (account_id),
    principal              numeric(14,2)  NOT NULL CHECK (principal > 0),
    annual_rate            numeric(6,4)   NOT NULL CHECK (annual_rate >= 0 AND annual_rate < 1),
    term_months            integer        NOT NULL CHECK (term_months BETWEEN 1 AND 360),
    status                 text           NOT NULL CHECK (status IN ('active', 'repaid', 'defaulted')),
    outstanding_principal  numeric(14,2)  NOT NULL CHECK (outstanding_principal >= 0),
    disbursed_at           timestamptz    NOT NULL,
    updated_at             timestamptz    NOT NULL,
    CONSTRAINT loans_outstanding_le_principal CHECK (outstanding_principal <= principal),
    CONSTRAINT loans_repaid_is_zero CHECK (status <> 'repaid' OR outstanding_principal = 0),
    CONSTRAINT loans_updated_after_disbursed CHECK (updated_at >= disbursed_at)
);
CREATE INDEX IF NOT EXISTS loans_customer_idx ON loans (customer_id);
CREATE INDEX IF NOT EXISTS loans_updated_at_idx ON loans (updated_at);

CREATE TABLE IF NOT EXISTS investments (
    investment_id    bigint         PRIMARY KEY,
    customer_id      bigint         NOT NULL REFERENCES customers (customer_id),
    account_id       bigint         NOT NULL REFERENCES accounts (account_id),
    product          text           NOT NULL
        CHECK (product IN ('etf_world', 'bond_fund', 'money_market', 'green_equity')),
    status           text           NOT NULL CHECK (status IN ('open', 'closed')),
    invested_amount  numeric(14,2)  NOT NULL CHECK (invested_amount >= 0),  -- net cost basis held now
    opened_at        timestamptz    NOT NULL,
    closed_at        timestamptz,
    updated_at       timestamptz    NOT NULL,
    CONSTRAINT investments_closed_status CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CONSTRAINT investments_closed_is_zero CHECK (status <> 'closed' OR invested_amount = 0),
    CONSTRAINT investments_updated_after_opened CHECK (updated_at >= opened_at)
);
CREATE INDEX IF NOT EXISTS investments_customer_idx ON investments (customer_id);
CREATE INDEX IF NOT EXISTS investments_updated_at_idx ON investments (updated_at);

-- One row per money movement on one account. Booked rows have booked_at; scheduled rows (standing orders,
-- loan instalments, planned transfers) have scheduled_for in the future and become booked when executed.
-- A P2P transfer is two rows (p2p_out on the sender, p2p_in on the receiver) sharing counterparty references.
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id           bigint         PRIMARY KEY,
    account_id               bigint         NOT NULL REFERENCES accounts (account_id),
    transaction_type         text           NOT NULL CHECK (transaction_type IN (
        'deposit', 'withdrawal', 'p2p_in', 'p2p_out', 'card_payment',
        'loan_disbursement', 'loan_repayment', 'investment_buy', 'investment_sell',
        'fee', 'interest_charge', 'interest_payout')),
    amount                   numeric(14,2)  NOT NULL CHECK (amount <> 0),
    currency                 char(3)        NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    status                   text           NOT NULL
        CHECK (status IN ('booked', 'scheduled', 'cancelled', 'failed')),
    booked_at                timestamptz,
    scheduled_for            date,
    counterparty_account_id  bigint         REFERENCES accounts (account_id),
    loan_id                  bigint         REFERENCES loans (loan_id),
    investment_id            bigint         REFERENCES investments (investment_id),
    description              text           NOT NULL DEFAULT '',
    created_at               timestamptz    NOT NULL,
    updated_at               timestamptz    NOT NULL,
    -- money in is positive, money out is negative
    CONSTRAINT transactions_sign CHECK (
        (transaction_type IN ('deposit', 'p2p_in', 'loan_disbursement', 'investment_sell', 'interest_payout')
            AND amount > 0)
        OR (transaction_type IN ('withdrawal', 'p2p_out', 'card_payment', 'loan_repayment', 'investment_buy',
                                 'fee', 'interest_charge')
            AND amount < 0)),
    CONSTRAINT transactions_booked_has_time CHECK ((status = 'booked') = (booked_at IS NOT NULL)),
    CONSTRAINT transactions_scheduled_has_date CHECK (status <> 'scheduled' OR scheduled_for IS NOT NULL),
    CONSTRAINT transactions_p2p_has_counterparty CHECK (
        (transaction_type IN ('p2p_in', 'p2p_out')) = (counterparty_account_id IS NOT NULL)),
    CONSTRAINT transactions_not_to_self CHECK (counterparty_account_id IS DISTINCT FROM account_id),
    CONSTRAINT transactions_loan_ref CHECK (
        (transaction_type IN ('loan_disbursement', 'loan_repayment')) = (loan_id IS NOT NULL)),
    CONSTRAINT transactions_investment_ref CHECK (
        (transaction_type IN ('investment_buy', 'investment_sell')) = (investment_id IS NOT NULL)),
    CONSTRAINT transactions_updated_after_created CHECK (updated_at >= created_at)
);
CREATE INDEX IF NOT EXISTS transactions_account_idx ON transactions (account_id);
CREATE INDEX IF NOT EXISTS transactions_updated_at_idx ON transactions (updated_at);
CREATE INDEX IF NOT EXISTS transactions_scheduled_idx ON transactions (scheduled_for) WHERE status = 'scheduled';
