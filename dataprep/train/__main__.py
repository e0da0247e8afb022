"""``python -m dataprep.train CONFIG [key=value ...]``."""

import sys

from dataprep.train.loop import main

sys.exit(main())
