{#-
    The governed tier of every customer at the end of every complete month: the rule of int_customer_tiers_assigned
    (average of month-end balance + investments held over the last `tier_months` complete months the customer has;
    Diamond >= tier_diamond_min, Gold >= tier_gold_min, else Bronze) applied at each month instead of only the latest.
    Customer months are contiguous (one row per month from the customer's first), so a rows window is a months window.

    Incremental (delete+insert by month_start): a tier at a month depends on that month and the tier_months - 1
    before it, so a run recomputes the months from the shared window start (macros/incremental_window_start.sql)
    onward, reading tier_months - 1 more months before it.
-#}
{{ config(**month_incremental_config('month_start', prune_after_as_of=false)) }}

{%- set transactions = ref('stg_raw__transactions') %}

{% if incremental_run() -%}
with window_month as (
    select {{ incremental_window_month('month_start', transactions) }} as start_month
),

complete_months as (
{%- else -%}
with complete_months as (
{%- endif %}
    select
        customer_id,
        month_start,
        closing_balance + investments_held as month_wealth
    from {{ ref('int_customer_months_summarized') }}
    where is_month_complete
    {% if incremental_run() %}
        and month_start >= (
            select cast({{ dbt.dateadd('month', -(var('tier_months') - 1), 'start_month') }} as date)
            from window_month
        )
    {% endif %}
),

windowed as (
    select
        customer_id,
        month_start,
        sum(month_wealth) over (
            partition by customer_id order by month_start
            rows between {{ var('tier_months') - 1 }} preceding and current row
        ) as total_wealth,
        count(*) over (
            partition by customer_id order by month_start
            rows between {{ var('tier_months') - 1 }} preceding and current row
        ) as tier_months_counted
    from complete_months
)

select
    {{ dbt.concat(["cast(customer_id as " ~ dbt.type_string() ~ ")", "'-'", "cast(month_start as " ~ dbt.type_string() ~ ")"]) }}
        as customer_tier_month_key,
    customer_id,
    month_start,
    {{ half_up_cents('total_wealth', 'tier_months_counted') }} as tier_score,
    tier_months_counted,
    case
        when total_wealth >= {{ var('tier_diamond_min') }} * tier_months_counted then 'Diamond'
        when total_wealth >= {{ var('tier_gold_min') }} * tier_months_counted then 'Gold'
        else 'Bronze'
    end as tier
from windowed
{% if incremental_run() %}
where month_start >= (select start_month from window_month)
{% endif %}
{{ clustered_on_full_build('month_start') }}
