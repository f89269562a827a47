"""``python -m sandbox``: the same as ``signal-sendgrid sandbox``."""

from sandbox.cli import sandbox_command

if __name__ == "__main__":
    sandbox_command()
