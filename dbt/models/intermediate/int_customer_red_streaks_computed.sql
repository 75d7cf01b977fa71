{#-
    Red streaks over complete months: a streak is a run of consecutive calendar months whose month-end balance
    (summed over the customer's accounts) is below zero. Gaps-and-islands: within one customer and one red/not-red
    state, month_index - row_number() is constant along a run of consecutive months; month_index counts months
    across years (year * 12 + month), so December -> January is consecutive and a missing month breaks the run.
    The as-of month is left out while it is not over (its month-end balance is not known yet).
-#}
with customer_months as (
    select
        customer_id,
        month_start,
        is_in_red,
        {{ month_index('month_start') }} as month_index
    from {{ ref('int_customer_months_summarized') }}
    where is_month_complete
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

select
    customer_id,
    month_start,
    is_in_red,
    case when is_in_red then month_index - island_start_index + 1 else 0 end as red_streak_months,
    case when is_in_red then island_start_month end as red_streak_start_month
from streaks
