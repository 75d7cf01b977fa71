{#-
    Red streaks over complete months: a streak is a run of consecutive calendar months whose month-end balance
    (summed over the customer's accounts) is below zero. Gaps-and-islands: within one customer and one red/not-red
    state, month_index - row_number() is constant along a run of consecutive months; month_index counts months
    across years (year * 12 + month), so December -> January is consecutive and a missing month breaks the run.
    The as-of month is left out while it is not over (its month-end balance is not known yet).

    Incremental (delete+insert by month_start): the months from the shared window start
    (macros/incremental_window_start.sql) onward are recomputed; a streak running into the window continues the
    one stored for the month before it (length added, start month kept).
-#}
{{ config(**month_incremental_config(prune_after_as_of=false)) }}

{%- set transactions = ref('stg_raw__transactions') %}

with
{% if incremental_run() -%}
window_month as (
    select start_month, {{ month_index('start_month') }} as start_index
    from (select {{ incremental_window_month('month_start', transactions) }} as start_month) as window_start
),

carried_in as (
    -- the red streak stored for the month just before the window
    select stored.customer_id, stored.red_streak_months, stored.red_streak_start_month
    from {{ this }} as stored
    inner join window_month
        on stored.month_start = cast({{ dbt.dateadd('month', -1, 'window_month.start_month') }} as date)
    where stored.is_in_red
),

{% endif -%}
customer_months as (
    select
        customer_id,
        month_start,
        is_in_red,
        {{ month_index('month_start') }} as month_index
    from {{ ref('int_customer_months_summarized') }}
    where is_month_complete
    {% if incremental_run() %}
        and month_start >= (select start_month from window_month)
    {% endif %}
),

islands as (
    select
        customer_id,
        month_start,
        is_in_red,
        month_index,
        month_index - row_number() over (
            partition by customer_id, is_in_red
            order by month_start
        ) as island_id
    from customer_months
),

streaks as (
    select
        customer_id,
        month_start,
        is_in_red,
        month_index,
        min(month_start) over (partition by customer_id, is_in_red, island_id) as island_start_month,
        min(month_index) over (partition by customer_id, is_in_red, island_id) as island_start_index
    from islands
)
{% if incremental_run() %}
,

continued as (
    -- an island starting on the window's first month continues the streak carried in, if there is one
    select
        streaks.customer_id,
        streaks.month_start,
        streaks.is_in_red,
        streaks.month_index,
        case
            when streaks.island_start_index = window_month.start_index and carried_in.customer_id is not null
                then streaks.island_start_index - carried_in.red_streak_months
            else streaks.island_start_index
        end as island_start_index,
        case
            when streaks.island_start_index = window_month.start_index and carried_in.customer_id is not null
                then carried_in.red_streak_start_month
            else streaks.island_start_month
        end as island_start_month
    from streaks
    cross join window_month
    left join carried_in
        on streaks.customer_id = carried_in.customer_id
        and streaks.is_in_red
)
{% endif %}

select
    customer_id,
    month_start,
    is_in_red,
    case when is_in_red then month_index - island_start_index + 1 else 0 end as red_streak_months,
    case when is_in_red then island_start_month end as red_streak_start_month
from {% if incremental_run() %}continued{% else %}streaks{% endif %}
{{ clustered_on_full_build('month_start') }}
