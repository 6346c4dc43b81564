from enum import StrEnum


class InvoiceKind(StrEnum):
    ADJUSTMENT = "adjustment"
    INVOICE = "invoice"

    def __str__(self) -> str:
        return str(self.value)
