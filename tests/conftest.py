"""Suite-wide setup."""

from __future__ import annotations

import signal

# A suite started in the background by a non-interactive shell (`.ci/run &`) inherits
# SIGINT ignored, and so would every CLI it starts: the Ctrl-C tests would then see
# nothing happen. A handler installed here is reset to the default in each child.
signal.signal(signal.SIGINT, signal.default_int_handler)
