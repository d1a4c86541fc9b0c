"""Append msgid/msgstr pairs to a catalog: python scripts/po_add.py en '中文=English' ..."""
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

locale, pairs = sys.argv[1], sys.argv[2:]
path = Path(__file__).resolve().parent.parent / "translations" / locale / "LC_MESSAGES" / "messages.po"
with open(path, "rb") as fh:
    catalog = read_po(fh, locale=locale)
for pair in pairs:
    msgid, _, msgstr = pair.partition("=")
    catalog.add(msgid, msgstr)
with open(path, "wb") as fh:
    write_po(fh, catalog, width=100)
