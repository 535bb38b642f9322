from .base import DocType, FieldSpec

INVOICE = DocType(
    name="invoice",
    title="Invoice",
    description="A supplier's invoice.",
    fields=(
        FieldSpec("issuer", "text", description="the company that issued the invoice"),
        FieldSpec("invoice_number", "code", labels=("Invoice Number", "Invoice No", "Invoice No.", "Invoice #")),
        FieldSpec("date", "date", labels=("Invoice Date", "Date", "Date of issue")),
        FieldSpec("amount", "amount", labels=("Total", "Amount Due", "Total Due", "Grand Total", "Balance Due")),
        FieldSpec("currency", "currency", validators=("currency",)),
    ),
)
