"""Text handling shared by the classifier and the rules: one folding, both languages."""

from __future__ import annotations

import re
import unicodedata

# Combining marks left by NFKD decomposition (the accents of Portuguese and most Latin scripts).
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"[a-z]+")

# Short, frequent words that tell Portuguese from English; accents are folded first.
_PT_WORDS = frozenset(
    "nao sim de do da dos das que para com por uma um os as no na nos nas esta estou "
    "meu minha voce seu sua ao em ja mais mas foi ser tem sem como quando isso esse essa "
    "ola obrigado obrigada bom dia tarde favor preciso problema conta sistema".split()
)
_EN_WORDS = frozenset(
    "the and to of is in it for on with my we our you your this that not be are was "
    "have has can cannot please hello thanks thank need problem account system when from".split()
)


def fold(text: str) -> str:
    """Return text lower-cased, without accents and with single spaces (pt and en matching)."""
    # Runs on every request several times (classifier, rules, language), so the common cases
    # skip work: ASCII text has nothing to decompose, and split/join collapses whitespace as
    # `\s+` does (both use str.isspace) at a fraction of a regex's cost.
    if text.isascii():
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if not decomposed.isascii():
        decomposed = _MARKS.sub("", decomposed)
    return " ".join(decomposed.split())


def detect_language(text: str) -> str | None:
    """Guess 'pt' or 'en' from common function words; None when the text gives no sign."""
    words = _WORD.findall(fold(text))
    pt = sum(map(_PT_WORDS.__contains__, words))
    en = sum(map(_EN_WORDS.__contains__, words))
    if pt == en:
        return None
    return "pt" if pt > en else "en"
