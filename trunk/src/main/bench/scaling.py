"""``--scaling 1,2``: does N reuseport processes serve N times the players at the same CPU per player?

For each N, ``scenarios.processes`` runs N x ``per_process`` RTMP players over N edge processes sharing
one port (``reuseport on;``, one origin), and this is repeated ``repeats`` times, the Ns interleaved
so that a burst of noise from the machine's other tenants does not land on one N only. The table
gives medians (CPU summed over the edge processes, CPU per 1000 players, delivered ratio) and the
spread, because one run on a shared machine proves little.
"""
from __future__ import annotations

import json
import statistics
from typing import Dict, List, Tuple

from srs.main.bench import scenarios


def scaling(workdir: str, media: dict, per_process: int, counts: List[int], repeats: int, steady: float,
            settle: float) -> Tuple[Dict[int, List[dict]], str]:
    runs: Dict[int, List[dict]] = {n: [] for n in counts}
    for r in range(repeats):
        for n in counts:
            total = scenarios.processes(workdir, media, per_process * n, n, steady, settle)[0][-1]
            total["repeat"] = r
            total["cpu_per_1000"] = round(total["cpu"] * 1000.0 / max(1, total["clients"]), 2)
            print("bench: scaling " + json.dumps(total), flush=True)
            runs[n].append(total)
    lines = [f"| processes | players | runs | edge CPU% summed, median (min-max) | CPU% per 1000 players, median "
             "| delivered ratio, median (min) | RSS MB, median |", "|---|---|---|---|---|---|---|"]
    for n in counts:
        rs = runs[n]
        cpu = [x["cpu"] for x in rs]
        ratio = [x["ratio"] for x in rs]
        lines.append(f"| {n} | {per_process * n} | {len(rs)} | {statistics.median(cpu):.1f} "
                     f"({min(cpu):.1f}-{max(cpu):.1f}) | {statistics.median(x['cpu_per_1000'] for x in rs):.2f} "
                     f"| {statistics.median(ratio):.3f} ({min(ratio):.3f}) "
                     f"| {statistics.median(x['rss_mb'] for x in rs):.0f} |")
    return runs, "\n".join(lines)
