with customers as (
    select * from {{ ref('stg_raw__customers') }}
),

tiers as (
    select * from {{ ref('int_customer_tiers_assigned') }}
),

reporting_date as (
    select last_complete_month from {{ ref('int_reporting_date_derived') }}
),

latest_streaks as (
    -- the streak as of the latest complete month
    select streaks.customer_id, streaks.red_streak_months, streaks.red_streak_start_month
    from {{ ref('int_customer_red_streaks_computed') }} as streaks
    inner join reporting_date on streaks.month_start = reporting_date.last_complete_month
),

accounts as (
    select
        customer_id,
        count(*) as account_count,
        min(opened_date) as first_account_opened_date
    from {{ ref('stg_raw__accounts') }}
    group by customer_id
)

select
    customers.customer_id,
    customers.full_name,
    customers.email,
    customers.country_code,
    customers.street,
    customers.postal_code,
    customers.city,
    customers.birth_date,
    customers.created_at,
    customers.signup_date,
    cast({{ dbt.date_trunc('month', 'customers.signup_date') }} as date) as signup_month,
    coalesce(accounts.account_count, 0) as account_count,
    accounts.first_account_opened_date,
    tiers.tier,
    tiers.tier_score,
    tiers.tier_months_counted,
    coalesce(latest_streaks.red_streak_months, 0) as current_red_streak_months,
    latest_streaks.red_streak_start_month as current_red_streak_start_month,
    coalesce(latest_streaks.red_streak_months, 0) > 0 as is_in_red_streak
from customers
left join tiers on customers.customer_id = tiers.customer_id
left join accounts on customers.customer_id = accounts.customer_id
left join latest_streaks on customers.customer_id = latest_streaks.customer_id
