import sys

from mlpipeline.cli import main

sys.exit(main())
