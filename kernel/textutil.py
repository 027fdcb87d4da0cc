"""Text helpers for Vietnamese."""

import re
import unicodedata


def fold_vietnamese(text: str) -> str:
    """Lower-case ASCII form for search: 'Hành tím Vĩnh Châu' -> 'hanh tim vinh chau'.

    NFD splits most marks off their letters, but đ/Đ are letters of their own and must be mapped.
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return re.sub(r"\s+", " ", stripped).strip().lower()


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold_vietnamese(text)).strip("-")[:80]
