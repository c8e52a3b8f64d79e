from teal.cli import run

run()
