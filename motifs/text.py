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


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def linked_paragraphs(text: str, links: dict[str, str]) -> str:
    """A curator's plain text as HTML paragraphs, each mention of a key of ``links`` (a motif's
    name or alias, matched as whole words, case-insensitive) made a link to its URL.

    Everything from ``text`` is escaped, the matched words too, so the only markup in the
    result is ``<p>``, ``<br>`` and ``<a>`` made here: a page body can never inject HTML.
    ``links`` maps a casefolded name to a URL; longer names win ("Bebek Setaman" over "Bebek").
    """
    # Imported here: the rest of this module is plain Python that scripts use without Django.
    from django.utils.html import escape, format_html
    from django.utils.safestring import mark_safe

    names = sorted((name for name in links if name.strip()), key=len, reverse=True)
    pattern = (
        re.compile(r"(?<!\w)(?:" + "|".join(re.escape(name) for name in names) + r")(?!\w)", re.IGNORECASE)
        if names else None
    )

    def linked(chunk: str) -> str:
        if pattern is None:
            return escape(chunk)
        out, last = [], 0
        for match in pattern.finditer(chunk):
            url = links.get(match.group(0).casefold())
            if url is None:
                continue
            out.append(escape(chunk[last:match.start()]))
            out.append(format_html('<a href="{}" class="motif-mention">{}</a>', url, match.group(0)))
            last = match.end()
        out.append(escape(chunk[last:]))
        return "".join(out)

    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")) if p.strip()]
    return mark_safe("\n\n".join(
        "<p>" + "<br>".join(linked(line) for line in paragraph.split("\n")) + "</p>" for paragraph in paragraphs
    ))
