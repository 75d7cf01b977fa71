{#- Upcoming money movements: transactions with status 'scheduled' (standing orders, loan instalments, ...). -#}
with scheduled as (
    select * from {{ ref('stg_raw__transactions') }}
    -- only scheduled rows carry a date (a CHECK of the operational schema): the cheap null test goes first so
    -- the status normalisation runs on those rows only, not on every transaction
    where scheduled_for_date is not null
        and transaction_status = 'scheduled'
),

accounts as (
    select account_id, customer_id from {{ ref('stg_raw__accounts') }}
),

reporting_date as (
    select as_of_date from {{ ref('int_reporting_date_derived') }}
)

select
    scheduled.transaction_id,
    scheduled.account_id,
    accounts.customer_id,
    scheduled.counterparty_account_id,
    scheduled.loan_id,
    scheduled.investment_id,
    scheduled.transaction_type,
    scheduled.scheduled_for_date,
    {{ dbt.datediff('reporting_date.as_of_date', 'scheduled.scheduled_for_date', 'day') }} as days_until_due,
    scheduled.amount,
    case when scheduled.amount < 0 then -scheduled.amount else scheduled.amount end as absolute_amount,
    scheduled.currency_code,
    scheduled.description,
    scheduled.created_at
from scheduled
inner join accounts on scheduled.account_id = accounts.account_id
cross join reporting_date
