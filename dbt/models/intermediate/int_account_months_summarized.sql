{#-
    One row per account per calendar month, from the month the account opened through the as-of month: booked
    flows of the month and the closing balance (running sum over a dense month grid, so a month without any
    activity still has a closing balance). For the as-of month the closing balance is the balance to date.

    Incremental (delete+insert by month_start): a run recomputes every account for the months from the month of the
    shared window start (macros/incremental_window_start.sql) onward, starting from the closing balance stored for
    the month before; older months are final and left alone.
-#}
{{ config(**month_incremental_config('month_end_date')) }}

{%- set transactions = ref('stg_raw__transactions') %}

with reporting_date as (
    select as_of_date, as_of_month from {{ ref('int_reporting_date_derived') }}
),

{% if incremental_run() %}
window_month as (
    select {{ incremental_window_month('month_end_date', transactions) }} as start_month
),

carried_in as (
    -- closing balance of the month before the window: the starting point of the recomputation
    select stored.account_id, stored.closing_balance as carried_balance
    from {{ this }} as stored
    inner join window_month
        on stored.month_start = cast({{ dbt.dateadd('month', -1, 'window_month.start_month') }} as date)
),
{% endif %}

months as (
    select date_day as month_start
    from {{ ref('metricflow_time_spine') }}
    where date_day = cast({{ dbt.date_trunc('month', 'date_day') }} as date)
),

accounts as (
    select account_id, customer_id, opened_date from {{ ref('stg_raw__accounts') }}
),

account_months as (
    select
        accounts.account_id,
        accounts.customer_id,
        months.month_start
    from accounts
    inner join months
        on months.month_start >= cast({{ dbt.date_trunc('month', 'accounts.opened_date') }} as date)
    inner join reporting_date
        on months.month_start <= reporting_date.as_of_month
    {% if incremental_run() %}
    where months.month_start >= (select start_month from window_month)
    {% endif %}
),

monthly_flows as (
    select
        account_id,
        cast({{ dbt.date_trunc('month', 'booked_date') }} as date) as month_start,
        sum(amount) as net_amount,
        sum(case when amount > 0 then amount else 0 end) as credit_amount,
        sum(case when amount < 0 then -amount else 0 end) as debit_amount,
        sum(case when transaction_type = 'withdrawal' then -amount else 0 end) as withdrawal_amount,
        sum(case when transaction_type in ('fee', 'interest_charge') then -amount else 0 end) as revenue_amount,
        count(*) as booked_transaction_count
    from {{ transactions }}
    where transaction_status = 'booked'
    {% if incremental_run() %}
        and booked_date >= (select start_month from window_month)
    {% endif %}
    group by 1, 2
),

joined as (
    select
        account_months.account_id,
        account_months.customer_id,
        account_months.month_start,
        coalesce(monthly_flows.net_amount, 0) as net_amount,
        coalesce(monthly_flows.credit_amount, 0) as credit_amount,
        coalesce(monthly_flows.debit_amount, 0) as debit_amount,
        coalesce(monthly_flows.withdrawal_amount, 0) as withdrawal_amount,
        coalesce(monthly_flows.revenue_amount, 0) as revenue_amount,
        coalesce(monthly_flows.booked_transaction_count, 0) as booked_transaction_count,
        {% if incremental_run() %}coalesce(carried_in.carried_balance, 0) + {% endif %}
        sum(coalesce(monthly_flows.net_amount, 0)) over (
            partition by account_months.account_id
            order by account_months.month_start
            rows between unbounded preceding and current row
        ) as closing_balance
    from account_months
    left join monthly_flows
        on account_months.account_id = monthly_flows.account_id
        and account_months.month_start = monthly_flows.month_start
    {% if incremental_run() %}
    left join carried_in
        on account_months.account_id = carried_in.account_id
    {% endif %}
)

select
    joined.account_id,
    joined.customer_id,
    joined.month_start,
    case
        when cast({{ dbt.last_day('joined.month_start', 'month') }} as date) <= reporting_date.as_of_date
            then cast({{ dbt.last_day('joined.month_start', 'month') }} as date)
        else reporting_date.as_of_date
    end as month_end_date,
    cast({{ dbt.last_day('joined.month_start', 'month') }} as date) <= reporting_date.as_of_date
        as is_month_complete,
    cast(joined.closing_balance - joined.net_amount as decimal(18, 2)) as opening_balance,
    cast(joined.credit_amount as decimal(18, 2)) as credit_amount,
    cast(joined.debit_amount as decimal(18, 2)) as debit_amount,
    cast(joined.net_amount as decimal(18, 2)) as net_amount,
    cast(joined.closing_balance as decimal(18, 2)) as closing_balance,
    cast(joined.withdrawal_amount as decimal(18, 2)) as withdrawal_amount,
    cast(joined.revenue_amount as decimal(18, 2)) as revenue_amount,
    joined.booked_transaction_count
from joined
cross join reporting_date
{{ clustered_on_full_build('month_start') }}
