{#-
    not_null for several columns of one model in one query (one test node instead of one per column): fails with
    every row where any listed column is null. Used for the non-key columns; keys keep their own unique + not_null.
-#}
{% test not_null_columns(model, column_names) %}
select *
from {{ model }}
where {% for column in column_names %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %}
{% endtest %}
