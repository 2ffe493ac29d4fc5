"""Do 2 replicas behind HAProxy beat 1 process on this box? The same class-sized scenario against one
`streamlit run` and against deploy/serve.py's replicas, one after the other, with the load average.

    python bench/compare_replicas.py --page kernel_sandbox --sessions 30 --replicas 2
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from load_class import PAGES, print_report, run_load, spawn_server, stop_server  # noqa: E402

from deploy.serve import Deployment  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--page", default="kernel_sandbox", choices=PAGES)
    ap.add_argument("--sessions", "-n", type=int, default=30)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--scenario", default="at-once", choices=["at-once", "steady", "open"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=60)
    a = ap.parse_args(argv)
    kw = dict(rounds=a.rounds, duration=a.duration, timeout=180)
    lines = []
    proc, url = spawn_server()
    try:
        asyncio.run(run_load(url, a.page, 1, "at-once", rounds=1, pids=[proc.pid]))   # warm-up
        rep = asyncio.run(run_load(url, a.page, a.sessions, a.scenario, pids=[proc.pid], **kw))
        print("== 1 process"), print_report(rep)
        lines.append(f"1 process: {rep.summary()}")
    finally:
        stop_server(proc)
    with Deployment(replicas=a.replicas) as d:
        for _ in range(2 * a.replicas):   # warm every replica (sessions alternate between them)
            asyncio.run(run_load(d.url, a.page, 1, "at-once", rounds=1, pids=d.replica_pids()))
        rep = asyncio.run(run_load(d.url, a.page, a.sessions, a.scenario, pids=d.replica_pids(), **kw))
        split = {r: rep.replicas.count(r) for r in sorted(set(rep.replicas))}
        print(f"== {a.replicas} replicas behind HAProxy, sessions per replica {split}"), print_report(rep)
        lines.append(f"{a.replicas} replicas {split}: {rep.summary()}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
