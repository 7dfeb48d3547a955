"""``python -m edgedistill``: the same command line as the ``edgedistill`` script."""

from edgedistill.cli import main

if __name__ == "__main__":
    main(prog_name="edgedistill")
