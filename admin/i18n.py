"""The admin's languages: pt-BR and English, chosen by ?lang=, the user's profile or the browser."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel, get_locale
from flask_login import current_user

LANGUAGES = ("en", "pt_BR")
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

babel = Babel()


def _normalise(value: str | None) -> str | None:
    if not value:
        return None
    value = value.replace("-", "_")
    for lang in LANGUAGES:
        if value.lower() == lang.lower() or value.lower().split("_")[0] == lang.lower():
            return lang
    return None


def select_locale() -> str:
    """Return the language of this request: ?lang= (kept in the session), profile, browser."""
    asked = _normalise(request.args.get("lang"))
    if asked:
        session["lang"] = asked
        return asked
    chosen = _normalise(session.get("lang"))
    if chosen:
        return chosen
    if current_user and current_user.is_authenticated:
        profile = _normalise(current_user.locale)
        if profile:
            return profile
    best = request.accept_languages.best_match(["pt-BR", "pt", "en"], default="en")
    return "pt_BR" if best.lower().startswith("pt") else "en"


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel to app with the admin's catalogue."""
    babel.init_app(
        app,
        default_locale="en",
        default_translation_directories=str(TRANSLATIONS_DIR),
        locale_selector=select_locale,
    )
    app.jinja_env.globals.setdefault("get_locale", get_locale)
