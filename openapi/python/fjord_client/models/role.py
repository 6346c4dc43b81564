from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    BILLING = "billing"
    DEVELOPER = "developer"
    TENANT_ADMIN = "tenant-admin"
    VIEWER = "viewer"

    def __str__(self) -> str:
        return str(self.value)
