"""Fill Vietnamese translations into the catalogue from a JSON file of {msgid: msgstr}, then the
caller compiles. Used after `pybabel extract` / `pybabel update` when new strings appear:

    pybabel extract -F babel.cfg -k _l -k lazy_gettext -o kernel/translations/messages.pot .
    pybabel update -i kernel/translations/messages.pot -d kernel/translations -l vi --no-fuzzy-matching
    python kernel/translations/fill.py new-strings.json
    pybabel compile -d kernel/translations -l vi
"""

import json
import sys

from babel.messages.pofile import read_po, write_po

PO = "kernel/translations/vi/LC_MESSAGES/messages.po"


def main(path: str) -> None:
    translations = json.load(open(path, encoding="utf-8"))
    with open(PO, "rb") as handle:
        catalog = read_po(handle)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        if not message.string:
            if message.id in translations:
                message.string = translations[message.id]
            else:
                missing.append(message.id)
        message.flags.discard("fuzzy")
    with open(PO, "wb") as handle:
        write_po(handle, catalog, width=100)
    if missing:
        sys.exit("still untranslated:\n" + "\n".join(missing))


if __name__ == "__main__":
    main(sys.argv[1])
