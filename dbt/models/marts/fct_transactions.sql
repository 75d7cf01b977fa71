{#-
    Booked transactions, one row each. Incremental (delete+insert on transaction_id): a run takes the source rows
    updated since (latest updated_at already loaded - lookback_days), whatever their status, replaces them, and the
    post-hook removes the ones that are no longer booked (a booked row later cancelled leaves the fact).
    On Snowflake the batch is staged in a transient table (tmp_relation_type), visible to lineage, instead of a
    session temporary table.
-#}
{{
    config(
        materialized='incremental',
        unique_key='transaction_id',
        incremental_strategy='delete+insert',
        tmp_relation_type='transient',
        on_schema_change='fail',
        meta={'data_test_window_column': 'updated_at'},
        post_hook="delete from {{ this }} where transaction_status <> 'booked'"
    )
}}

with transactions as (
    select * from {{ ref('stg_raw__transactions') }}
    {% if incremental_run() %}
    where updated_at >= (
        select {{ dbt.dateadd('day', -var('lookback_days'), 'max(updated_at)') }} from {{ this }}
    )
    {% else %}
    where transaction_status = 'booked'
    {% endif %}
),

accounts as (
    select account_id, customer_id from {{ ref('stg_raw__accounts') }}
)

select
    transactions.transaction_id,
    transactions.account_id,
    accounts.customer_id,
    transactions.counterparty_account_id,
    transactions.loan_id,
    transactions.investment_id,
    transactions.transaction_type,
    transactions.transaction_status,
    transactions.booked_at,
    transactions.booked_date,
    transactions.amount,
    case when transactions.amount < 0 then -transactions.amount else transactions.amount end as absolute_amount,
    case when transactions.amount > 0 then transactions.amount else 0 end as credit_amount,
    case when transactions.amount < 0 then -transactions.amount else 0 end as debit_amount,
    -- FineFinance revenue: fees and interest charged to customers (stored negative on the account)
    case
        when transactions.transaction_type in ('fee', 'interest_charge') then -transactions.amount
        else 0
    end as revenue_amount,
    transactions.amount > 0 as is_credit,
    transactions.currency_code,
    transactions.description,
    transactions.created_at,
    transactions.updated_at
from transactions
inner join accounts on transactions.account_id = accounts.account_id
