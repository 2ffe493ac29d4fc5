"""Does in-page training slow the other students? A second session's rerun latency while N MNIST trainings run.

Session B (AppTest, kernel sandbox) changes the stride back and forth; meanwhile 0, 1 or 2 plain threads
run ``train.train_own`` (as the page did before: in the script thread of each student who pressed Train,
with no limit), or one ``jobs.Run`` does (now: one job per server, its thread at a lower priority and
handing over the GIL after every batch). Prints B's rerun wall time p50/p95 per case and the training's own batches per second.

    /work/main/.venv/bin/python bench/bench_training.py [--reruns 12]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=20)
    args = ap.parse_args()
    from streamlit.testing.v1 import AppTest

    from cnn_viz.common.torch_tools import one_torch_thread
    from cnn_viz.mnist import data, train

    one_torch_thread()
    train_set, held = data.train_test_split()
    b = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    b.run()
    b.switch_page("pages/kernel_sandbox.py").run()
    print(f"load average {os.getloadavg()[0]:.1f}")
    from cnn_viz.common import jobs

    config = train.RunConfig(epochs=30, n_train=4000, lr=1e-3, batch=64, seed=0, augment=True)
    cases = [("no training", 0, False), ("1 training, plain thread (before)", 1, False),
             ("2 trainings, plain threads (before: no slot)", 2, False), ("1 training through jobs.Run (now)", 1, True)]
    for name, n_jobs, via_run in cases:
        stop, batches = threading.Event(), [0]

        def on_batch(done, total):
            batches[0] += 1

        runs, threads = [], []
        if via_run:
            def work(job):
                return train.train_own(train_set, held, config, on_batch=lambda d, t: (on_batch(d, t), job.report(d / t, "")),
                                       should_stop=job.should_stop)
            runs = [jobs.Run("bench", "bench training", work, 3600).start()]
        else:
            threads = [threading.Thread(target=lambda: train.train_own(train_set, held, config, on_batch=on_batch,
                                                                       should_stop=stop.is_set), daemon=True)
                       for _ in range(n_jobs)]
            for t in threads:
                t.start()
        end = time.monotonic() + 300
        while n_jobs and batches[0] < 5 * n_jobs and time.monotonic() < end:  # the loops are really training
            time.sleep(0.1)
        b0, t0 = batches[0], time.monotonic()
        lat = []
        for i in range(args.reruns):
            s = time.monotonic()
            b.number_input(key="stride").set_value(2 + i % 2).run()
            lat.append(time.monotonic() - s)
            assert not b.exception, b.exception
        rate = (batches[0] - b0) / (time.monotonic() - t0)
        stop.set()
        for r in runs:
            r.stop(60)
        for t in threads:
            t.join(60)
        lat.sort()
        print(f"{name}: other session's rerun p50 {statistics.median(lat):.3f} s, "
              f"p95 {lat[int(0.95 * (len(lat) - 1))]:.3f} s; training {rate:.1f} batches/s in all; load {os.getloadavg()[0]:.1f}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
