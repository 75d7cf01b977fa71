with source as (
    select * from {{ source('raw', 'loans') }}
),

renamed as (
    select
        cast(loan_id as bigint) as loan_id,
        cast(customer_id as bigint) as customer_id,
        cast(account_id as bigint) as account_id,
        cast(principal as decimal(18, 2)) as principal,
        cast(annual_rate as decimal(8, 4)) as annual_rate,
        cast(term_months as integer) as term_months,
        lower(trim(status)) as loan_status,
        cast(outstanding_principal as decimal(18, 2)) as outstanding_principal,
        {{ to_utc_timestamp('disbursed_at') }} as disbursed_at,
        cast({{ to_utc_timestamp('disbursed_at') }} as date) as disbursed_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
