-- The calendar (metricflow_time_spine) must cover the data's as-of date, or daily balances would stop short.
select as_of_date
from {{ ref('int_reporting_date_derived') }}
where as_of_date > (select max(date_day) from {{ ref('metricflow_time_spine') }})
