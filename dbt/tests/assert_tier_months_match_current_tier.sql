-- The tier history and dim_customers apply one rule: at the latest complete month they must agree.
select customers.customer_id, customers.tier, history.tier as tier_in_history
from {{ ref('dim_customers') }} as customers
inner join {{ ref('fct_customer_tier_months') }} as history
    on customers.customer_id = history.customer_id
inner join {{ ref('int_reporting_date_derived') }} as reporting_date
    on history.month_start = reporting_date.last_complete_month
where customers.tier <> history.tier
