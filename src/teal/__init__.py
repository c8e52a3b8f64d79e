"""teal: blue-green deploys of Python web apps to AWS Lambda + API Gateway.

The public API for app code. Everything imported here uses the standard
library only, because it also runs inside Lambda.
"""

from teal._version import __version__
from teal.runtime.access import CognitoAuthorizer, CORSConfig, allow, deny
from teal.runtime.app import App
from teal.runtime.http import Request, Response

__all__ = [
    "App",
    "CORSConfig",
    "CognitoAuthorizer",
    "Request",
    "Response",
    "__version__",
    "allow",
    "deny",
]
