{#- Monthly statement per account: opening balance, booked credits and debits, closing balance.
    Incremental (delete+insert by month_start): copies the months its source recomputed in this run (the same
    window rule, macros/incremental_window_start.sql, applied to this table's own latest month).
-#}
{{ config(**month_incremental_config('month_end_date')) }}

{%- set transactions = ref('stg_raw__transactions') %}
select
    {{ dbt.concat(["cast(account_id as " ~ dbt.type_string() ~ ")", "'-'", "cast(month_start as " ~ dbt.type_string() ~ ")"]) }}
        as account_month_key,
    account_id,
    customer_id,
    month_start,
    month_end_date,
    is_month_complete,
    opening_balance,
    credit_amount,
    debit_amount,
    net_amount,
    closing_balance,
    withdrawal_amount,
    revenue_amount,
    booked_transaction_count
from {{ ref('int_account_months_summarized') }}
{% if incremental_run() %}
where month_start >= {{ incremental_window_month('month_end_date', transactions) }}
{% endif %}
{{ clustered_on_full_build('month_start') }}
