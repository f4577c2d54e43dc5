"""Text handling shared by the classifier and the rules: one folding, both languages."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
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
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _SPACES.sub(" ", _MARKS.sub("", decomposed)).strip()


def detect_language(text: str) -> str | None:
    """Guess 'pt' or 'en' from common function words; None when the text gives no sign."""
    words = _WORD.findall(fold(text))
    pt = sum(word in _PT_WORDS for word in words)
    en = sum(word in _EN_WORDS for word in words)
    if pt == en:
        return None
    return "pt" if pt > en else "en"
