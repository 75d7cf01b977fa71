{#-
    One row per account per day, from the day the account opened through the data's as-of date: the end-of-day
    balance (opening 0 + all booked transactions up to that day), carried over days without activity so that
    semi-additive balance measures (sum over accounts at one date) are right on every date.

    Incremental (delete+insert by balance_date): a run recomputes every account for all days from the window start
    (macros/incremental_window_start.sql, shared with the month models) onward and takes the balance of the day
    before the window from the table itself.
    On Snowflake the batch is staged in a transient table (tmp_relation_type), visible to lineage, instead of a
    session temporary table.
-#}
{{
    config(
        materialized='incremental',
        unique_key='balance_date',
        incremental_strategy='delete+insert',
        tmp_relation_type='transient',
        on_schema_change='fail',
        meta={'data_test_window_column': 'balance_date'},
        post_hook="delete from {{ this }} where balance_date > (select as_of_date from "
                  ~ "{{ ref('int_reporting_date_derived') }})"
    )
}}

{%- set transactions = ref('stg_raw__transactions') %}

with reporting_date as (
    select as_of_date from {{ ref('int_reporting_date_derived') }}
),

{% if incremental_run() %}
window_start as (
    select {{ incremental_window_start('balance_date', transactions) }} as start_date
),

carried_in as (
    -- end-of-day balance the day before the window: the starting point of the recomputation
    select stored.account_id, stored.balance as carried_balance
    from {{ this }} as stored
    inner join window_start
        on stored.balance_date = cast({{ dbt.dateadd('day', -1, 'window_start.start_date') }} as date)
),
{% endif %}

accounts as (
    select account_id, customer_id, opened_date from {{ ref('stg_raw__accounts') }}
),

daily_flows as (
    select
        account_id,
        booked_date,
        sum(amount) as net_amount,
        count(*) as booked_transaction_count
    from {{ transactions }}
    where transaction_status = 'booked'
    {% if incremental_run() %}
        and booked_date >= (select start_date from window_start)
    {% endif %}
    group by account_id, booked_date
),

account_days as (
    select
        accounts.account_id,
        accounts.customer_id,
        spine.date_day as balance_date
    from accounts
    inner join {{ ref('metricflow_time_spine') }} as spine
        on spine.date_day >= accounts.opened_date
    inner join reporting_date
        on spine.date_day <= reporting_date.as_of_date
    {% if incremental_run() %}
    where spine.date_day >= (select start_date from window_start)
    {% endif %}
),

balances as (
    select
        account_days.account_id,
        account_days.customer_id,
        account_days.balance_date,
        coalesce(daily_flows.net_amount, 0) as net_amount,
        coalesce(daily_flows.booked_transaction_count, 0) as booked_transaction_count,
        {% if incremental_run() %}coalesce(carried_in.carried_balance, 0) + {% endif %}
        sum(coalesce(daily_flows.net_amount, 0)) over (
            partition by account_days.account_id
            order by account_days.balance_date
            rows between unbounded preceding and current row
        ) as balance
    from account_days
    left join daily_flows
        on account_days.account_id = daily_flows.account_id
        and account_days.balance_date = daily_flows.booked_date
    {% if incremental_run() %}
    left join carried_in
        on account_days.account_id = carried_in.account_id
    {% endif %}
)

select
    {{ dbt.concat(["cast(account_id as " ~ dbt.type_string() ~ ")", "'-'", "cast(balance_date as " ~ dbt.type_string() ~ ")"]) }}
        as account_day_key,
    account_id,
    customer_id,
    balance_date,
    cast(net_amount as decimal(18, 2)) as net_amount,
    booked_transaction_count,
    cast(balance as decimal(18, 2)) as balance,
    cast(balance as decimal(18, 2)) < 0 as is_overdrawn
from balances
{{ clustered_on_full_build('balance_date') }}
