{#- Monthly statement per account: opening balance, booked credits and debits, closing balance. -#}
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
