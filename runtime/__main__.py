"""`python -m pyrunc.runtime ARGS`: the CLI without the launcher."""
from .cli.main import entry

entry()
