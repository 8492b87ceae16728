"""hrstyle: relight and regrade a whole shot from one reference still."""

import os

# Idle OpenMP workers sleep instead of spinning. On shared or busy machines (render
# nodes, 2-core CI) spinning torch threads starve hrstyle's decode/encode threads and
# each other: a 10-step tune ran 3x faster with this on a loaded 2-core box. Set it
# before torch is imported; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
