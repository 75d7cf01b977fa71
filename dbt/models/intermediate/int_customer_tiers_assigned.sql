{#-
    Tier rule (governed; thresholds are the dbt vars tier_gold_min and tier_diamond_min, window tier_months):
      tier_score = average over the customer's last `tier_months` complete calendar months (counted back from the
                   latest complete month of the data) of (month-end balance + investments held);
                   a customer with fewer complete months in that window is averaged over the months they have.
      Diamond if tier_score >= tier_diamond_min, Gold if >= tier_gold_min, else Bronze
      (Bronze too when the customer has no complete month yet).
-#}
with reporting_date as (
    select last_complete_month from {{ ref('int_reporting_date_derived') }}
),

scored_months as (
    select
        customer_months.customer_id,
        customer_months.closing_balance + customer_months.investments_held as month_wealth
    from {{ ref('int_customer_months_summarized') }} as customer_months
    cross join reporting_date
    where customer_months.is_month_complete
        and customer_months.month_start <= reporting_date.last_complete_month
        and customer_months.month_start > cast(
            {{ dbt.dateadd('month', -var('tier_months'), 'reporting_date.last_complete_month') }} as date
        )
),

scores as (
    select
        customer_id,
        cast(sum(month_wealth) as decimal(18, 2)) as total_wealth,
        count(*) as tier_months_counted
    from scored_months
    group by customer_id
),

customers as (
    select customer_id from {{ ref('stg_raw__customers') }}
)

select
    customers.customer_id,
    -- rounded half-up for display only; the tier compares exact sums (average >= x  <=>  sum >= x * months)
    {{ half_up_cents('scores.total_wealth', 'scores.tier_months_counted') }} as tier_score,
    coalesce(scores.tier_months_counted, 0) as tier_months_counted,
    case
        when scores.total_wealth >= {{ var('tier_diamond_min') }} * scores.tier_months_counted then 'Diamond'
        when scores.total_wealth >= {{ var('tier_gold_min') }} * scores.tier_months_counted then 'Gold'
        else 'Bronze'
    end as tier
from customers
left join scores on customers.customer_id = scores.customer_id
