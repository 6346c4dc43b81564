from enum import StrEnum


class ClusterState(StrEnum):
    DELETED = "deleted"
    DELETING = "deleting"
    FAILED = "failed"
    PROVISIONING = "provisioning"
    READY = "ready"
    UPDATING = "updating"

    def __str__(self) -> str:
        return str(self.value)
