"""bench/run_all keeps the sections it did not re-run and stamps the ones it did."""

from bench.run_all import read_sections, stamp


def test_sections_round_trip_and_replace() -> None:
    one = stamp("bench.bench_a", "## A\n\nCommand: `a`\n\n| x |\n|---|\n| 1 |\n")
    two = stamp("bench.bench_b", "## B\n\n| y |\n")
    sections = read_sections("# Benchmark results\n\n" + one + "\n" + two)
    assert set(sections) == {"bench.bench_a", "bench.bench_b"}
    assert "| 1 |" in sections["bench.bench_a"] and "_Measured " in sections["bench.bench_a"]
    sections["bench.bench_a"] = stamp("bench.bench_a", "## A\n\n| x |\n|---|\n| 2 |\n")
    assert "| 2 |" in sections["bench.bench_a"] and "| y |" in sections["bench.bench_b"]
