"""finefin: configuration and the command line that ties ingestion, dbt, the semantic layer and the bot together."""
