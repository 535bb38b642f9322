from .base import DocType, FieldSpec

# Thresholds on the calibrated confidence, from `manage.py bench_extract` on the 80 SROIE receipts
# (llamacpp, Qwen2.5-Coder 1.5B): the lowest at which each field's auto-accepted values reached 0.99
# precision, never under 0.9. No address reached one (their OCR slips carry full OCR confidence; the
# highest address confidence was 0.85), so 1.0 sends every address to a person.
RECEIPT = DocType(
    name="receipt",
    title="Receipt",
    description="A shop or restaurant receipt.",
    fields=(
        FieldSpec("company", "text", description="the seller's company name, usually the first line",
                  review_threshold=0.96),
        FieldSpec("date", "date", labels=("Date", "Tarikh"), review_threshold=0.9),
        FieldSpec("address", "address", description="the seller's address, all its lines", review_threshold=1.0),
        FieldSpec("total", "amount", labels=("Total", "Grand Total", "Total Amount", "Amount Due", "Nett Total",
                                            "Total Payable", "Rounded Total", "Total Rounded", "Rounding"),
                  review_threshold=0.91),
    ),
)
