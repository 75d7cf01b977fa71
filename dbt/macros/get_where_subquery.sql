{#-
    Windowed data tests for daily incremental builds. When the window is set (env var FINEFIN_DATA_TEST_WINDOW_DAYS,
    which `finefin refresh` sets for a daily incremental run, or var data_test_window_days), generic tests on a
    model or source whose config has meta.data_test_window_column only check rows with that column within the last
    N days of the relation's own data: the rows an incremental run rewrites (delete+insert by that window), so
    re-testing the untouched history every day is skipped. Without it every test checks the whole table, as dbt
    does. A test's own `where` config still applies. Overrides dbt's default__get_where_subquery for every adapter.
    The env var is read at execution only, so changing it never invalidates dbt's partial parse (a var would).
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set window_days = data_test_window_days() -%}
    {%- set window_column = data_test_window_column(relation) if window_days is not none else none -%}
    {%- if window_column -%}
        {%- do conditions.append(
            window_column ~ ' >= (select ' ~ dbt.dateadd('day', -window_days, 'max(' ~ window_column ~ ')')
            ~ ' from ' ~ relation ~ ')'
        ) -%}
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

{#-
    The daily test window in days (var data_test_window_days, else env var FINEFIN_DATA_TEST_WINDOW_DAYS), or none.
    Read at execution only: at parse time it is none, so the env var never enters dbt's partial-parse state.
-#}
{% macro data_test_window_days() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set days = var('data_test_window_days', none) -%}
    {%- if days is none -%}
        {%- set days = env_var('FINEFIN_DATA_TEST_WINDOW_DAYS', '') or none -%}
    {%- endif -%}
    {{ return(none if days is none else days | int) }}
{%- endmacro %}

{#- meta.data_test_window_column of the model or source stored at `relation`, or none. -#}
{% macro data_test_window_column(relation) -%}
    {%- set found = namespace(column=none) -%}
    {%- for node in graph.nodes.values() | list + graph.sources.values() | list -%}
        {%- if node.resource_type in ('model', 'source')
                and (node.alias if node.resource_type == 'model' else node.identifier) | lower
                    == relation.identifier | lower
                and node.schema | lower == relation.schema | lower -%}
            {%- set found.column = node.config.meta.get('data_test_window_column') or node.meta.get('data_test_window_column') -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found.column) }}
{%- endmacro %}
