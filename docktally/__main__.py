from docktally.cli import entry

entry()
