{#- meta.data_test_window_column: daily builds may test only recently updated rows (macros/get_where_subquery.sql). -#}
{{ config(meta={'data_test_window_column': 'updated_at'}) }}

with source as (
    select * from {{ source('raw', 'transactions') }}
),

renamed as (
    select
        cast(transaction_id as bigint) as transaction_id,
        cast(account_id as bigint) as account_id,
        lower(trim(transaction_type)) as transaction_type,
        cast(amount as decimal(18, 2)) as amount,
        upper(trim(currency)) as currency_code,
        lower(trim(status)) as transaction_status,
        {{ to_utc_timestamp('booked_at') }} as booked_at,
        cast({{ to_utc_timestamp('booked_at') }} as date) as booked_date,
        cast(scheduled_for as date) as scheduled_for_date,
        cast(counterparty_account_id as bigint) as counterparty_account_id,
        cast(loan_id as bigint) as loan_id,
        cast(investment_id as bigint) as investment_id,
        coalesce(trim(description), '') as description,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
