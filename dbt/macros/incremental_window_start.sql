{#-
    The first day an incremental run of a date-grained model recomputes (a scalar subquery giving a date): the
    earlier of
      - the model's latest stored day (`stored_date_column` of {{ this }}) minus var lookback_days, and
      - the booking date of any booked transaction updated in the last lookback_days before the latest update seen
        (a late booking on an older day).
    Every incremental model downstream of the transactions uses this one rule, so they all recompute the same days
    (month-grained models start at the first day of that day's month). A booked transaction cancelled on a day older
    than the window is only seen by a --full-refresh; the reconciliation test catches such drift. After an outage
    longer than lookback_days, a late booking updated early in the outage on a day before the window is missed too:
    run with --full-refresh (or a larger lookback_days) after such a gap.
    `transactions` is the staging relation, passed in by the caller so that dbt records the ref at parse time.
-#}
{% macro incremental_window_start(stored_date_column, transactions) -%}
    (
        select
            cast(
                case
                    when late.earliest_changed_date < stored.lookback_start then late.earliest_changed_date
                    else stored.lookback_start
                end as date
            )
        from (
            select {{ dbt.dateadd('day', -var('lookback_days'), 'max(' ~ stored_date_column ~ ')') }} as lookback_start
            from {{ this }}
        ) as stored
        cross join (
            select min(booked_date) as earliest_changed_date
            from {{ transactions }}
            where transaction_status = 'booked'
                and updated_at >= (
                    select {{ dbt.dateadd('day', -var('lookback_days'), 'max(updated_at)') }} from {{ transactions }}
                )
        ) as late
    )
{%- endmacro %}

{#- The first month an incremental run of a month-grained model recomputes: the month of incremental_window_start. -#}
{% macro incremental_window_month(stored_date_column, transactions) -%}
    cast({{ dbt.date_trunc('month', incremental_window_start(stored_date_column, transactions)) }} as date)
{%- endmacro %}
