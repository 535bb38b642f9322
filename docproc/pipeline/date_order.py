"""Which way a document writes its dates, for a document type whose ``date_order`` is ``auto``.

An invoice type receives documents from several countries: "8-9-2022" is the 8th of September on
a Dutch invoice and the 9th of August on an American one. A document decides first by its own
numeric dates: one that can only be read one way ("20-10-2015": there is no 20th month) tells the
order of the others. Where every printed date could be read both ways, the document's language
does: the languages that write the day first (German, French, Dutch, Spanish, Italian,
Portuguese) by their common words; English, and a document whose language is not told, keep the
type's fallback, month first.
"""

from __future__ import annotations

import re
from dataclasses import replace

from docproc.doctypes import DocType

from .types import DocumentText

AUTO = "auto"
FALLBACK = "month_first"

# Common words of invoices and receipts that, in these languages, are not English words too.
_DAY_FIRST_WORDS = {
    "de": {"rechnung", "rechnungsdatum", "rechnungsnr", "datum", "betrag", "summe", "gesamt", "mwst", "kunde",
           "kundennr", "und", "der", "die", "das", "für", "mit", "bitte", "zahlung", "seite", "menge", "preis"},
    "fr": {"facture", "montant", "tva", "ttc", "client", "le", "la", "les", "et", "des", "du", "règlement",
           "numéro", "adresse", "paiement", "prix", "quantité", "désignation", "échéance", "abonné"},
    "nl": {"factuur", "factuurdatum", "datum", "bedrag", "totaal", "btw", "klant", "betaling", "vervaldatum",
           "het", "een", "en", "voor", "met", "prijs", "hoeveelheid", "omschrijving", "afleveradres"},
    "es": {"factura", "fecha", "importe", "iva", "cliente", "el", "los", "las", "y", "pago", "precio",
           "cantidad", "descripción", "dirección"},
    "it": {"fattura", "importo", "iva", "cliente", "il", "di", "pagamento", "prezzo", "quantità",
           "descrizione", "indirizzo", "totale"},
    "pt": {"fatura", "valor", "cliente", "pagamento", "preço", "quantidade", "descrição",
           "endereço", "morada"},
}
_ENGLISH_WORDS = {"invoice", "date", "amount", "total", "due", "the", "and", "of", "to", "bill", "for", "with",
                  "payment", "price", "quantity", "description", "address", "customer", "number", "tax"}
# A language decides with this many more of its words than English has, and at least this many.
_MARGIN = 3
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})\b")
_WORD = re.compile(r"[^\W\d_]+")


def printed_order(text: str) -> str | None:
    """``day_first`` or ``month_first`` when the text's numeric dates that can be read only one
    way agree on it (a first number over 12 is a day; a second over 12 is a day too); None when
    none can, or they disagree."""
    day_first = month_first = 0
    for match in _NUMERIC_DATE.finditer(text):
        first, second = int(match.group(1)), int(match.group(2))
        if 12 < first <= 31 and 1 <= second <= 12:
            day_first += 1
        elif 12 < second <= 31 and 1 <= first <= 12:
            month_first += 1
    if day_first and not month_first:
        return "day_first"
    if month_first and not day_first:
        return "month_first"
    return None


def language_order(text: str) -> str | None:
    """``day_first`` when the text's words are plainly of a language that writes the day first;
    None otherwise (English, or not told)."""
    words = [w.casefold() for w in _WORD.findall(text)]
    english = sum(w in _ENGLISH_WORDS for w in words)
    best = max((sum(w in vocabulary for w in words) for vocabulary in _DAY_FIRST_WORDS.values()), default=0)
    return "day_first" if best >= _MARGIN and best >= english + _MARGIN else None


def date_order_of(document: DocumentText) -> str:
    """The document's date order: its unambiguous numeric dates, else its language, else month first."""
    text = "\n".join(page.text for page in document.pages)
    return printed_order(text) or language_order(text) or FALLBACK


def for_document(doctype: DocType, document: DocumentText | None) -> DocType:
    """``doctype`` with the document's date order where the type's is ``auto``; else itself."""
    if doctype.date_order != AUTO or document is None:
        return doctype
    return replace(doctype, date_order=date_order_of(document))  # type: ignore[arg-type]
