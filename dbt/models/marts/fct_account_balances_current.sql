{#-
    One row per account: its end-of-day balance on the data's as-of date, i.e. the newest day of
    fct_account_balances_daily (the same rows, not recomputed). The "balance now" lookups of one customer (balance,
    upcoming) read this table through the current_balance metric.

    Why a table of its own: the daily balances are stored in date order (macros/clustered_on_full_build.sql), which
    keeps daily incremental runs to the newest row groups, but spreads one customer's rows over every row group of
    the ~20 M-row table at 10 M transactions, so a customer's latest balance read from it scans the whole table.
    Here the rows are stored in customer order, so a lookup by customer reads one row group. Rebuilt in full on every
    run: it reads only the as-of date's rows of the daily table (the newest row groups, pruned by their zone maps).
-#}
{{ config(materialized='table') }}

select
    daily.account_id,
    daily.customer_id,
    daily.balance_date,
    daily.balance,
    daily.is_overdrawn
from {{ ref('fct_account_balances_daily') }} as daily
where daily.balance_date = (select as_of_date from {{ ref('int_reporting_date_derived') }})
order by daily.customer_id, daily.account_id
