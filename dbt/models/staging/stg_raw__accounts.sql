with source as (
    select * from {{ source('raw', 'accounts') }}
),

renamed as (
    select
        cast(account_id as bigint) as account_id,
        cast(customer_id as bigint) as customer_id,
        lower(trim(account_type)) as account_type,
        upper(trim(currency)) as currency_code,
        lower(trim(status)) as account_status,
        upper(replace(iban, ' ', '')) as iban,
        cast(overdraft_limit as decimal(18, 2)) as overdraft_limit,
        {{ to_utc_timestamp('opened_at') }} as opened_at,
        cast({{ to_utc_timestamp('opened_at') }} as date) as opened_date,
        {{ to_utc_timestamp('closed_at') }} as closed_at,
        cast({{ to_utc_timestamp('closed_at') }} as date) as closed_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
