from .base import DocType, FieldSpec

CLAIM = DocType(
    name="claim",
    title="Insurance claim form",
    description="The generic insurance claim form: claimant, policy, loss and amounts claimed.",
    fields=(
        FieldSpec("claim_number", "code", labels=("Claim Number", "Claim No", "Claim #"), validators=("claim_number",)),
        FieldSpec("policy_number", "code", labels=("Policy Number", "Policy No", "Policy #")),
        FieldSpec("claimant_name", "name", labels=("Claimant Name", "Name of Claimant", "Insured Name", "Claimant")),
        FieldSpec("claimant_dob", "date", labels=("Date of Birth", "DOB", "Birth Date")),
        FieldSpec("claimant_address", "address", labels=("Address", "Claimant Address", "Mailing Address")),
        FieldSpec("claimant_phone", "phone", labels=("Phone", "Telephone", "Phone Number"), validators=("phone",)),
        FieldSpec("claimant_email", "email", labels=("Email", "E-mail", "Email Address"), validators=("email",)),
        FieldSpec("date_of_loss", "date", labels=("Date of Loss", "Loss Date", "Date of Incident")),
        FieldSpec("type_of_loss", "text", labels=("Type of Loss", "Loss Type", "Nature of Loss")),
        FieldSpec("amount_claimed", "amount", labels=("Amount Claimed", "Total Claimed", "Total Amount Claimed")),
        FieldSpec(
            "line_items",
            "list",
            required=False,
            labels=("Description", "Item"),
            item_fields=(
                FieldSpec("description", "text"),
                FieldSpec("amount", "amount"),
            ),
        ),
    ),
    cross_checks=("line_items_sum_to_amount_claimed",),
)
