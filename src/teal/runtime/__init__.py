"""What ships to Lambda: every module here goes into every code package.

The app's API (App, Request, Response, routes, access, triggers, errors) and
the handler every function runs, with teal's ASGI and WSGI adapters. Standard
library only: a package carries nothing else of teal's.
"""
