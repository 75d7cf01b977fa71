{#- Months since year 0 (year * 12 + month): consecutive calendar months differ by exactly 1, across years. -#}
{% macro month_index(date_column) -%}
    (cast(extract(year from {{ date_column }}) as integer) * 12 + cast(extract(month from {{ date_column }}) as integer))
{%- endmacro %}
