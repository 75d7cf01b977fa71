{#-
    One row per calendar day between vars time_spine_start and time_spine_end. Dialect-neutral on purpose
    (no generate_series, no dbt.date_spine): dbt.date_spine queries the warehouse at compile time, which breaks
    `dbt compile --target snowflake` without a connection. Five digit tables cross-joined give 100,000 offsets.
-#}
{{ config(materialized='table') }}

with digits as (
    select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
),

day_offsets as (
    select
        ones.digit
        + 10 * tens.digit
        + 100 * hundreds.digit
        + 1000 * thousands.digit
        + 10000 * ten_thousands.digit as day_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
    cross join digits as ten_thousands
),

days as (
    select
        cast({{ dbt.dateadd('day', 'day_offset', "cast('" ~ var('time_spine_start') ~ "' as date)") }} as date)
            as date_day
    from day_offsets
)

select date_day
from days
where date_day <= cast('{{ var("time_spine_end") }}' as date)
