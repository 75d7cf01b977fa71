with source as (
    select * from {{ source('raw', 'customers') }}
),

renamed as (
    select
        cast(customer_id as bigint) as customer_id,
        lower(trim(email)) as email,
        trim(full_name) as full_name,
        upper(trim(country)) as country_code,
        trim(street) as street,
        upper(trim(postal_code)) as postal_code,
        trim(city) as city,
        cast(birth_date as date) as birth_date,
        {{ to_utc_timestamp('created_at') }} as created_at,
        cast({{ to_utc_timestamp('created_at') }} as date) as signup_date,
        {{ to_utc_timestamp('updated_at') }} as updated_at
    from source
)

select * from renamed
