from enum import StrEnum


class MemberKind(StrEnum):
    SERVICE_ACCOUNT = "service-account"
    USER = "user"

    def __str__(self) -> str:
        return str(self.value)
