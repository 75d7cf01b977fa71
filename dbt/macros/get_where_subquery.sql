{#-
    Windowed data tests for daily incremental builds. When var data_test_window_days is set (finefin.transform
    passes it for a daily run, never by default), generic tests on a model whose config has
    meta.data_test_window_column only check rows with that column within the last N days of the model's own data:
    exactly the rows an incremental run rewrites (delete+insert by that window), so re-testing the untouched history
    every day is skipped. Without the var every test checks the whole table, as dbt does. A test's own `where`
    config still applies. Overrides dbt's default__get_where_subquery for every adapter.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window_days = var('data_test_window_days', none) -%}
    {%- if window_days is not none and execute -%}
        {%- set window = namespace(column=none) -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model' and node.alias | lower == relation.identifier | lower
                    and node.schema | lower == relation.schema | lower -%}
                {%- set window.column = node.config.meta.get('data_test_window_column') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if window.column -%}
            {%- do conditions.append(
                window.column ~ ' >= (select ' ~ dbt.dateadd('day', -(window_days | int), 'max(' ~ window.column ~ ')')
                ~ ' from ' ~ relation ~ ')'
            ) -%}
        {%- endif -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
