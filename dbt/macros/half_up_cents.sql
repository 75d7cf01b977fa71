{#-
    amount / divisor to the cent, rounded half-up (halves away from zero), as a bank displays money: the project's one
    rounding rule for derived amounts (README "Rounding"). `amount` holds at most 2 decimals and `divisor` is a
    positive integer, so the work is exact integer arithmetic on cents: DuckDB would otherwise divide a DECIMAL into a
    DOUBLE, where 7498.115 is 7498.11499... and rounds down. floor() of a quotient of integers is exact on both
    warehouses for these sizes (the fraction is a multiple of 1 / (2 * divisor), far from a float's error).
-#}
{% macro half_up_cents(amount, divisor) -%}
    cast(
        cast(
            sign({{ amount }}) * floor(
                (abs(cast({{ amount }} * 100 as bigint)) * 2 + ({{ divisor }})) / (2 * ({{ divisor }}))
            ) as decimal(18, 0)
        ) * cast(0.01 as decimal(3, 2))
        as decimal(18, 2)
    )
{%- endmacro %}
