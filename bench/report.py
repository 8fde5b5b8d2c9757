"""Summaries and the comparison table of the relay benchmark.

``summarize(runs)`` gives, per metric of the runs' kind, the median over the runs that did not fail
(``None`` if none has it). ``compare(baseline, relay)`` gives relay/baseline ratios per metric.
``render(results)`` formats ``{scenario: {"summaries": {server: summary}, "ratios": {server: ratios},
"notes": [...]}}`` as a fixed-width text table followed by the notes: one column per server (the
first is the baseline), then one ratio column per other server (server/base).
"""

from __future__ import annotations

import statistics

# (key, label, format) per scenario kind; only deliveries/s is "higher is better".
METRICS: dict[str, list[tuple[str, str, str]]] = {
    "throughput": [
        ("deliveries_per_s", "deliveries/s (higher=better)", "{:,.0f}"),
        ("echoes_per_s", "echoes/s to the writer (info)", "{:,.0f}"),
        ("p50_ms", "latency p50 ms", "{:.3f}"),
        ("p99_ms", "latency p99 ms", "{:.3f}"),
        ("server_cpu_us_per_delivery", "server CPU us/delivery", "{:.2f}"),
        ("server_rss_mb", "server RSS MB", "{:.1f}"),
        ("loadgen_cpu_pct", "loadgen CPU % (info)", "{:.0f}"),
        ("other_cpu_pct", "other host CPU % (info)", "{:.0f}"),
    ],
    "join": [
        ("join_ms", "join ms (median of 5)", "{:.2f}"),
        ("server_rss_mb", "server RSS MB", "{:.1f}"),
    ],
    "idle": [("idle_kb_per_client", "idle KB/client", "{:.1f}")],
}


def summarize(kind: str, runs: list[dict]) -> dict:
    ok = [r for r in runs if "failed" not in r]
    out: dict = {"runs_ok": len(ok), "runs": len(runs)}
    for key, _, _ in METRICS[kind]:
        values = [r[key] for r in ok if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def compare(kind: str, baseline: dict, relay: dict) -> dict:
    """Ratios relay/baseline; none for "(info)" rows, which describe the host, not the server."""
    ratios = {}
    for key, label, _ in METRICS[kind]:
        b, r = baseline.get(key), relay.get(key)
        ratios[key] = r / b if b and r is not None and "(info)" not in label else None
    return ratios


def cell(fmt: str, value) -> str:
    return "-" if value is None else fmt.format(value)


def render(kinds: dict[str, str], results: dict[str, dict]) -> str:
    first_result = next(iter(results.values()), {"summaries": {"baseline": {}}})
    names = list(first_result["summaries"])
    others = names[1:]
    header = ("scenario", "metric", *names, *(f"{name}/base" for name in others))
    rows = [header]
    for scenario, res in results.items():
        first = True
        for key, label, fmt in METRICS[kinds[scenario]]:
            rows.append((
                scenario if first else "",
                label,
                *(cell(fmt, res["summaries"][name].get(key)) for name in names),
                *(cell("{:.2f}", res["ratios"][name].get(key)) for name in others),
            ))
            first = False
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    notes = [f"{s}: {note}" for s, res in results.items() for note in res.get("notes", [])]
    return "\n".join(lines + ([""] + notes if notes else []))
