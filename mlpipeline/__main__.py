import sys

from mlpipeline.cli import CANCELLED, exit_now, main

code = main()
if code == CANCELLED:
    exit_now(code)  # a cancel leaves at once: see exit_now
sys.exit(code)
