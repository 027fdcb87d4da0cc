"""The interface is Vietnamese by default and English on request; no user-facing string may be
left without its Vietnamese translation."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "kernel" / "translations" / "vi" / "LC_MESSAGES"
METHODS = [
    ("shop/**.py", "python"), ("traceability/**.py", "python"), ("workers/**.py", "python"),
    ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2"),
]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


def _source_messages() -> set[str]:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_user_facing_string_has_a_vietnamese_translation():
    with open(CATALOG / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_source_messages() - translated)
    assert missing == [], f"untranslated strings (run pybabel extract/update and translate): {missing[:10]}"


def test_compiled_catalog_matches_the_po_file():
    with open(CATALOG / "messages.po", "rb") as handle:
        po = {m.id: m.string for m in read_po(handle) if m.id}
    with open(CATALOG / "messages.mo", "rb") as handle:
        mo = {m.id: m.string for m in read_mo(handle) if m.id}
    assert po == mo, "messages.mo is stale: run pybabel compile -d kernel/translations"


def test_pages_are_vietnamese_by_default_and_english_on_request(client):
    vietnamese = client.get("/login").get_data(as_text=True)
    assert '<html lang="vi">' in vietnamese and "Đăng nhập" in vietnamese
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "Log in" in english
    client.get("/lang/vi")
    toggled = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="vi">' in toggled  # the toggle wins over the browser


def test_language_toggle_does_not_redirect_off_site(client):
    response = client.get("/lang/en?next=//evil.example/")
    assert response.headers["Location"] == "/"


def test_every_form_validator_has_a_translatable_message(app):
    """WTForms' built-in messages are English only: each validator names its limits in our words."""
    import importlib
    import pkgutil

    from flask_wtf import FlaskForm
    from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Regexp

    import shop
    import workers

    for package in (shop, workers):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.endswith(".forms") and ".insight" not in module.name:
                importlib.import_module(module.name)
    forms, todo = [], list(FlaskForm.__subclasses__())
    while todo:
        form = todo.pop()
        todo.extend(form.__subclasses__())
        if form.__module__.startswith(("shop.", "workers.")) and ".insight" not in form.__module__:
            forms.append(form)
    assert forms
    missing = [f"{form.__name__}.{name}: {type(v).__name__}"
               for form in forms for name, field in vars(form).items() if hasattr(field, "kwargs")
               for v in field.kwargs.get("validators") or []
               if isinstance(v, (DataRequired, EqualTo, InputRequired, Length, NumberRange, Regexp)) and not v.message]
    assert missing == []
