{#-
    `order by <column>` on a full build (first build or --full-refresh) of a date- or month-grained incremental
    model, nothing on an incremental run. The table is then stored in date order (the order later runs append in),
    so a daily run's delete+insert of its window, its carried-in lookup and the windowed data tests touch the newest
    row groups only (DuckDB zone maps; on Snowflake, natural clustering of micro-partitions) instead of every row
    group (at 10 M transactions the daily balances' 7-day test window is read in ~20 ms; unclustered, every row
    group's min/max spans the whole history and nothing is pruned). Place it last in the model's SQL.
-#}
{% macro clustered_on_full_build(column) -%}
    {%- if not incremental_run() %}
order by {{ column }}
    {%- endif %}
{%- endmacro %}
