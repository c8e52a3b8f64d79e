"""Reading a project: teal.toml, the app's routes and triggers, its code package.

Also what a project runs on: the runtime's interpreter, its requirements
(installed for the local cloud, vendored for Lambda) and teal's settings from
the process environment.
"""
