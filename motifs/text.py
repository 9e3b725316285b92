"""Pure text helpers for matching names (class names, folder names, aliases) to motifs."""
import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_name(name: str) -> str:
    """'Bebek dan Kembang_Sumping' → 'bebek-dan-kembang-sumping': lower case, ASCII, hyphens.

    Class names from a classifier, folder names of a dataset and aliases typed by curators all
    go through this, so 'Kembang Kenanga', 'kembang_kenanga' and 'KEMBANG-KENANGA' match.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NON_ALNUM.sub("-", ascii_name.lower()).strip("-")
