select
    account_id,
    customer_id,
    account_type,
    currency_code,
    account_status,
    iban,
    overdraft_limit,
    opened_at,
    opened_date,
    closed_at,
    closed_date
from {{ ref('stg_raw__accounts') }}
