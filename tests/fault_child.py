"""Run by tests/test_faults.py in a child process: `hare materialize ARGS...`, stopped at a fault point.

HARE_FAULT_POINT=writing: after the first batch reaches a staged Parquet part (the file still open).
HARE_FAULT_POINT=swapping: inside a lake commit, after its first folder was swapped in.
HARE_FAULT_POINT=nospace: every file this process writes is limited to HARE_FAULT_FSIZE bytes (RLIMIT_FSIZE).
At writing/swapping the child writes HARE_FAULT_MARKER and waits there until the test SIGKILLs it.
"""

import os
import resource
import signal
import sys
import time
from pathlib import Path

from hare_assets.cli import main
from hare_assets.core import lake


def hold() -> None:
    Path(os.environ["HARE_FAULT_MARKER"]).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


point = os.environ["HARE_FAULT_POINT"]
if point == "writing":
    write_table = lake.ParquetSink.write_table

    def write_then_hold(self, table):
        write_table(self, table)
        hold()

    lake.ParquetSink.write_table = write_then_hold
elif point == "swapping":
    def replace_then_hold(src, dst, _replace=os.replace):
        _replace(src, dst)
        if ".tmp-" in str(src):  # a staged folder just went in; the commit's other moves wait
            hold()

    lake.os.replace = replace_then_hold
elif point == "nospace":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    limit = int(os.environ["HARE_FAULT_FSIZE"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.exit(main(sys.argv[1:]))
