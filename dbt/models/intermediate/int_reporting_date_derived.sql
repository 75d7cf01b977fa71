{#-
    The data's "today": the latest booking date (or account opening, if later). Every as-of computation uses this
    instead of current_date, so the same data always gives the same marts.
-#}
with booked as (
    select max(booked_date) as max_booked_date
    from {{ ref('stg_raw__transactions') }}
    where transaction_status = 'booked'
),

opened as (
    select max(opened_date) as max_opened_date
    from {{ ref('stg_raw__accounts') }}
),

as_of as (
    select
        case
            when booked.max_booked_date is null then opened.max_opened_date
            when opened.max_opened_date is null then booked.max_booked_date
            when booked.max_booked_date >= opened.max_opened_date then booked.max_booked_date
            else opened.max_opened_date
        end as as_of_date
    from booked
    cross join opened
)

select
    as_of_date,
    cast({{ dbt.date_trunc('month', 'as_of_date') }} as date) as as_of_month,
    -- the latest calendar month whose last day is on or before as_of_date
    case
        when as_of_date = cast({{ dbt.last_day('as_of_date', 'month') }} as date)
            then cast({{ dbt.date_trunc('month', 'as_of_date') }} as date)
        else cast({{ dbt.dateadd('month', -1, dbt.date_trunc('month', 'as_of_date')) }} as date)
    end as last_complete_month
from as_of
