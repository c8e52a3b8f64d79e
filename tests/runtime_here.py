"""The Lambda runtime every test can run locally: the one of the Python running the tests.

The local cloud runs a function only on its runtime's own Python, and a machine may have
no other (the README's quick start asks for Python 3.11 alone): tests whose subject is
not the runtime use this one, and the few that need a second Python skip without it.
"""

import sys

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
