from .base import DocType, FieldSpec

RECEIPT = DocType(
    name="receipt",
    title="Receipt",
    description="A shop or restaurant receipt.",
    fields=(
        FieldSpec("company", "text", description="the seller's company name, usually the first line"),
        FieldSpec("date", "date", labels=("Date", "Tarikh")),
        FieldSpec("address", "address", description="the seller's address, all its lines"),
        FieldSpec("total", "amount", labels=("Total", "Grand Total", "Total Amount", "Amount Due", "Nett Total",
                                            "Total Payable", "Rounded Total", "Total Rounded", "Rounding")),
    ),
)
