{#- One row per customer per calendar month: month-end position, month flows and red-streak state.
    Incremental (delete+insert by month_start): copies the months its sources recomputed in this run (the same
    window rule, macros/incremental_window_start.sql, applied to this table's own latest month); a red streak at a
    month depends only on that month and earlier ones, so older rows stay right.
-#}
{{ config(**month_incremental_config('month_end_date')) }}

{%- set transactions = ref('stg_raw__transactions') %}
with customer_months as (
    select * from {{ ref('int_customer_months_summarized') }}
    {% if incremental_run() %}
    where month_start >= {{ incremental_window_month('month_end_date', transactions) }}
    {% endif %}
),

streaks as (
    select * from {{ ref('int_customer_red_streaks_computed') }}
)

select
    {{ dbt.concat(["cast(customer_months.customer_id as " ~ dbt.type_string() ~ ")", "'-'", "cast(customer_months.month_start as " ~ dbt.type_string() ~ ")"]) }}
        as customer_month_key,
    customer_months.customer_id,
    customer_months.month_start,
    customer_months.month_end_date,
    customer_months.is_month_complete,
    customer_months.account_count,
    customer_months.opening_balance,
    customer_months.credit_amount,
    customer_months.debit_amount,
    customer_months.closing_balance,
    customer_months.withdrawal_amount,
    customer_months.revenue_amount,
    customer_months.booked_transaction_count,
    customer_months.loans_outstanding,
    customer_months.investments_held,
    customer_months.is_in_red,
    streaks.red_streak_months,
    streaks.red_streak_start_month
from customer_months
left join streaks
    on customer_months.customer_id = streaks.customer_id
    and customer_months.month_start = streaks.month_start
{{ clustered_on_full_build('month_start') }}
