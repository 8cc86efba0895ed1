"""Let the fuzz tests import each other's seed documents."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
