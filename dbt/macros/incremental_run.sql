{#-
    is_incremental(), except under `dbt compile --no-populate-cache`: there it renders the full-build branch
    instead of asking the warehouse whether {{ this }} exists, so compiling for a target needs no connection
    (is_incremental() looks the relation up, which opens a connection when the cache is not populated).
-#}
{% macro incremental_run() -%}
    {%- if flags.WHICH == 'compile' and not flags.POPULATE_CACHE -%}
        {{ return(false) }}
    {%- else -%}
        {{ return(is_incremental()) }}
    {%- endif -%}
{%- endmacro %}
