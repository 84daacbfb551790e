"""A profile merge in its own process, for the kill -9 and concurrency tests.

    python -m tests.recsys.merge_worker DB EVENTS DELIVERY SHA [PAUSE_FLAG [PAUSE_SECONDS]]

With PAUSE_FLAG, the merge touches that file after its second table's upsert (inside the
transaction) and sleeps PAUSE_SECONDS: the window the tests kill or race in. Prints the status.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from mlpipeline.recsys import profiles
from mlpipeline.recsys.config import ProfilesConfig


def main(argv: list[str]) -> None:
    db, events, delivery, sha = argv[:4]
    if len(argv) > 4:
        flag, pause = Path(argv[4]), float(argv[5]) if len(argv) > 5 else 60.0
        upsert, done = profiles._upsert, []

        def slow_upsert(con, table):
            upsert(con, table)
            done.append(table)
            if len(done) == 2:
                flag.touch()
                time.sleep(pause)

        profiles._upsert = slow_upsert
    cfg = ProfilesConfig(db=db, threads=1, lock_timeout_seconds=60.0)
    print(profiles.merge(cfg, pq.read_table(events), delivery, sha)["status"], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
