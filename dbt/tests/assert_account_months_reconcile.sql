-- For every account-month: opening balance + sum of the month's booked transactions (fct_transactions) = closing
-- balance, and the closing balance equals the daily balance table on the month's last day (or the as-of date).
-- Any returned row is a failure. A daily build (FINEFIN_DATA_TEST_WINDOW_DAYS set, see macros/get_where_subquery.sql)
-- checks only the months it rewrote: those ending within the window.
{%- set window_days = data_test_window_days() %}
with checked_months as (
    select * from {{ ref('fct_account_months') }}
    {% if window_days is not none %}
    where month_end_date >= (
        select {{ dbt.dateadd('day', -window_days, 'max(month_end_date)') }} from {{ ref('fct_account_months') }}
    )
    {% endif %}
),

statement_lines as (
    select
        account_id,
        cast({{ dbt.date_trunc('month', 'booked_date') }} as date) as month_start,
        cast(sum(amount) as decimal(18, 2)) as booked_total
    from {{ ref('fct_transactions') }}
    where booked_date >= (select min(month_start) from checked_months)
    group by 1, 2
),

checked as (
    select
        account_months.account_id,
        account_months.month_start,
        account_months.opening_balance,
        coalesce(statement_lines.booked_total, 0) as booked_total,
        account_months.closing_balance,
        daily.balance as daily_closing_balance
    from checked_months as account_months
    left join statement_lines
        on account_months.account_id = statement_lines.account_id
        and account_months.month_start = statement_lines.month_start
    left join {{ ref('fct_account_balances_daily') }} as daily
        on account_months.account_id = daily.account_id
        and account_months.month_end_date = daily.balance_date
)

select *
from checked
where opening_balance + booked_total <> closing_balance
    or daily_closing_balance is null
    or daily_closing_balance <> closing_balance
