"""The Lambda runtime every test can run locally: the one ``teal init`` gives a new app.

The local cloud runs a function only on its runtime's own Python, and a machine may have
no other than the one running the tests (the README's quick start asks for Python 3.11
alone): that one's runtime when Lambda has it. Tests whose subject is not the runtime use
this one (some older ones still name python3.11, the Python the suite runs on); the few
that need a second Python skip without it.
"""

from teal.cli.project import runtime_for_a_new_app

RUNTIME = runtime_for_a_new_app()
