from .base import DocType, FieldSpec

CMS1500 = DocType(
    name="cms1500",
    title="CMS-1500 health insurance claim",
    description="The US health insurance claim form (CMS-1500, 02/12).",
    template="cms1500",
    fields=(
        FieldSpec("insured_id", "code", labels=("1a. INSURED'S I.D. NUMBER", "INSURED'S I.D. NUMBER")),
        FieldSpec("patient_name", "name", labels=("2. PATIENT'S NAME", "PATIENT'S NAME")),
        FieldSpec("patient_dob", "date", labels=("3. PATIENT'S BIRTH DATE", "PATIENT'S BIRTH DATE")),
        FieldSpec("insured_name", "name", required=False, labels=("4. INSURED'S NAME",)),
        FieldSpec("patient_address", "address", required=False, labels=("5. PATIENT'S ADDRESS",)),
        FieldSpec("policy_number", "code", labels=("11. INSURED'S POLICY GROUP OR FECA NUMBER", "POLICY GROUP OR FECA NUMBER")),
        FieldSpec("diagnosis_code_1", "code", validators=("icd10",), labels=("21. DIAGNOSIS OR NATURE OF ILLNESS OR INJURY",)),
        FieldSpec("total_charge", "amount", labels=("28. TOTAL CHARGE", "TOTAL CHARGE")),
        FieldSpec("billing_npi", "code", validators=("npi",), labels=("33. BILLING PROVIDER INFO & PH #",)),
        FieldSpec("tax_id", "code", validators=("ein_or_ssn",), labels=("25. FEDERAL TAX I.D. NUMBER", "FEDERAL TAX I.D. NUMBER")),
    ),
)
