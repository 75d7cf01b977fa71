with source as (
    select * from {{ source('raw', 'investments') }}
),

renamed as (
    select
        cast(investment_id as bigint) as investment_id,
        cast(customer_id as bigint) as customer_id,
        cast(account_id as bigint) as account_id,
        lower(trim(product)) as product,
        lower(trim(status)) as investment_status,
        cast(invested_amount as decimal(18, 2)) as invested_amount,
        {{ to_utc_timestamp('opened_at') }} as opened_at,
        cast({{ to_utc_timestamp('opened_at') }} as date) as opened_date,
        {{ to_utc_timestamp('closed_at') }} as closed_at,
        cast({{ to_utc_timestamp('closed_at') }} as date) as closed_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
