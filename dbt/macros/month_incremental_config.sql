{#-
    Config of a month-grained incremental model (one row per entity per month_start): delete+insert by month_start,
    batch staged in a transient table on Snowflake (visible to lineage, unlike a session temporary table), schema
    changes fail the run. `test_window_column` lets daily builds window the model's data tests
    (macros/get_where_subquery.sql); `prune_after_as_of` deletes months after the data's as-of month (if the as-of
    date ever moves back). Use as `{{ config(**month_incremental_config('month_end_date')) }}`.
-#}
{% macro month_incremental_config(test_window_column=none, prune_after_as_of=true) -%}
    {%- set settings = {
        'materialized': 'incremental',
        'unique_key': 'month_start',
        'incremental_strategy': 'delete+insert',
        'tmp_relation_type': 'transient',
        'on_schema_change': 'fail',
    } -%}
    {%- if test_window_column -%}
        {%- do settings.update({'meta': {'data_test_window_column': test_window_column}}) -%}
    {%- endif -%}
    {%- if prune_after_as_of -%}
        {%- do settings.update({'post_hook': "delete from {{ this }} where month_start > (select as_of_month from "
                                             ~ "{{ ref('int_reporting_date_derived') }})"}) -%}
    {%- endif -%}
    {{ return(settings) }}
{%- endmacro %}
