"""The crash tests share the integration tests' harness (tests/integration/harness.py)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
