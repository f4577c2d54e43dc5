"""The admin in Portuguese: every string it shows has a pt-BR translation, compiled as shipped."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.admin.conftest import logged_in

ADMIN = Path(__file__).resolve().parents[2] / "admin"
CATALOG = ADMIN / "translations" / "pt_BR" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}


def test_every_admin_string_has_a_portuguese_translation():
    shown = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(str(ADMIN), METHODS, keywords=KEYWORDS)
    }
    with (CATALOG / "messages.po").open("rb") as fh:
        po = read_po(fh)
    untranslated = sorted(m for m in shown if not (po.get(m) and po.get(m).string))
    assert untranslated == []


def test_the_compiled_catalogue_matches_its_source():
    with (CATALOG / "messages.po").open("rb") as fh:
        po = {m.id: m.string for m in read_po(fh) if m.id}
    with (CATALOG / "messages.mo").open("rb") as fh:
        mo = {m.id: m.string for m in read_mo(fh) if m.id}
    assert mo == po


def test_the_dashboard_and_model_pages_speak_portuguese(app, client, active_model):
    logged_in(client, "admin")
    headers = {"Accept-Language": "pt-BR,pt;q=0.9"}
    dashboard = client.get("/admin/dashboard/", headers=headers).get_data(as_text=True)
    assert "Chamados abertos por fila e prioridade" in dashboard
    models = client.get("/admin/models/", headers=headers).get_data(as_text=True)
    assert "Treinar uma nova versão" in models
