{#-
    One row per customer per calendar month, from the customer's first month (sign-up or first account, whichever
    is earlier) through the as-of month. Month-end figures:
      - closing_balance: sum over the customer's accounts of the month-end balance (balance to date for the
        as-of month); a month without activity keeps the previous balance.
      - loans_outstanding: principal disbursed minus principal repaid, from booked loan transactions up to month end.
      - investments_held: net amount invested (buys minus sells), from booked investment transactions up to
        month end.
    Month flows: withdrawals (transaction_type 'withdrawal', as a positive amount), revenue, counts.

    Incremental (delete+insert by month_start), like int_account_months_summarized: the months from the month of the
    shared window start (macros/incremental_window_start.sql) onward are recomputed, loans and investments carried
    from the month before as stored.
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
    -- loans outstanding and investments held at the end of the month before the window
    select stored.customer_id, stored.loans_outstanding, stored.investments_held
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

account_months as (
    select * from {{ ref('int_account_months_summarized') }}
    {% if incremental_run() %}
    where month_start >= (select start_month from window_month)
    {% endif %}
),

customers as (
    select customer_id, signup_date from {{ ref('stg_raw__customers') }}
),

first_months as (
    select
        customers.customer_id,
        cast({{ dbt.date_trunc('month', 'customers.signup_date') }} as date) as signup_month,
        -- account months start at each account's opening month
        min(cast({{ dbt.date_trunc('month', 'accounts.opened_date') }} as date)) as first_account_month
    from customers
    left join {{ ref('stg_raw__accounts') }} as accounts on customers.customer_id = accounts.customer_id
    group by 1, 2
),

customer_months as (
    select
        first_months.customer_id,
        months.month_start
    from first_months
    inner join months
        on months.month_start >= case
            when first_months.first_account_month < first_months.signup_month then first_months.first_account_month
            else first_months.signup_month
        end
    inner join reporting_date
        on months.month_start <= reporting_date.as_of_month
    {% if incremental_run() %}
    where months.month_start >= (select start_month from window_month)
    {% endif %}
),

account_totals as (
    select
        customer_id,
        month_start,
        sum(opening_balance) as opening_balance,
        sum(closing_balance) as closing_balance,
        sum(credit_amount) as credit_amount,
        sum(debit_amount) as debit_amount,
        sum(withdrawal_amount) as withdrawal_amount,
        sum(revenue_amount) as revenue_amount,
        sum(booked_transaction_count) as booked_transaction_count,
        count(*) as account_count
    from account_months
    group by 1, 2
),

product_flows as (
    select
        accounts.customer_id,
        cast({{ dbt.date_trunc('month', 'transactions.booked_date') }} as date) as month_start,
        sum(
            case when transactions.transaction_type in ('loan_disbursement', 'loan_repayment')
                then transactions.amount else 0 end
        ) as loan_principal_change,
        sum(
            case when transactions.transaction_type in ('investment_buy', 'investment_sell')
                then -transactions.amount else 0 end
        ) as investment_change
    from {{ transactions }} as transactions
    inner join {{ ref('stg_raw__accounts') }} as accounts
        on transactions.account_id = accounts.account_id
    where transactions.transaction_status = 'booked'
        and transactions.transaction_type in (
            'loan_disbursement', 'loan_repayment', 'investment_buy', 'investment_sell'
        )
    {% if incremental_run() %}
        and transactions.booked_date >= (select start_month from window_month)
    {% endif %}
    group by 1, 2
),

joined as (
    select
        customer_months.customer_id,
        customer_months.month_start,
        coalesce(account_totals.opening_balance, 0) as opening_balance,
        coalesce(account_totals.closing_balance, 0) as closing_balance,
        coalesce(account_totals.credit_amount, 0) as credit_amount,
        coalesce(account_totals.debit_amount, 0) as debit_amount,
        coalesce(account_totals.withdrawal_amount, 0) as withdrawal_amount,
        coalesce(account_totals.revenue_amount, 0) as revenue_amount,
        coalesce(account_totals.booked_transaction_count, 0) as booked_transaction_count,
        coalesce(account_totals.account_count, 0) as account_count,
        {% if incremental_run() %}coalesce(carried_in.loans_outstanding, 0) + {% endif %}
        sum(coalesce(product_flows.loan_principal_change, 0)) over (
            partition by customer_months.customer_id
            order by customer_months.month_start
            rows between unbounded preceding and current row
        ) as loans_outstanding,
        {% if incremental_run() %}coalesce(carried_in.investments_held, 0) + {% endif %}
        sum(coalesce(product_flows.investment_change, 0)) over (
            partition by customer_months.customer_id
            order by customer_months.month_start
            rows between unbounded preceding and current row
        ) as investments_held
    from customer_months
    left join account_totals
        on customer_months.customer_id = account_totals.customer_id
        and customer_months.month_start = account_totals.month_start
    left join product_flows
        on customer_months.customer_id = product_flows.customer_id
        and customer_months.month_start = product_flows.month_start
    {% if incremental_run() %}
    left join carried_in
        on customer_months.customer_id = carried_in.customer_id
    {% endif %}
)

select
    joined.customer_id,
    joined.month_start,
    case
        when cast({{ dbt.last_day('joined.month_start', 'month') }} as date) <= reporting_date.as_of_date
            then cast({{ dbt.last_day('joined.month_start', 'month') }} as date)
        else reporting_date.as_of_date
    end as month_end_date,
    cast({{ dbt.last_day('joined.month_start', 'month') }} as date) <= reporting_date.as_of_date
        as is_month_complete,
    joined.account_count,
    cast(joined.opening_balance as decimal(18, 2)) as opening_balance,
    cast(joined.credit_amount as decimal(18, 2)) as credit_amount,
    cast(joined.debit_amount as decimal(18, 2)) as debit_amount,
    cast(joined.closing_balance as decimal(18, 2)) as closing_balance,
    cast(joined.withdrawal_amount as decimal(18, 2)) as withdrawal_amount,
    cast(joined.revenue_amount as decimal(18, 2)) as revenue_amount,
    joined.booked_transaction_count,
    cast(joined.loans_outstanding as decimal(18, 2)) as loans_outstanding,
    cast(joined.investments_held as decimal(18, 2)) as investments_held,
    cast(joined.closing_balance as decimal(18, 2)) < 0 as is_in_red
from joined
cross join reporting_date
{{ clustered_on_full_build('month_start') }}
