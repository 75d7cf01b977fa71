import typer

app = typer.Typer(help="FineFinance data platform")


@app.callback()
def main() -> None:
    """finefin command line."""
