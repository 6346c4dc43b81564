from enum import StrEnum


class AclOperation(StrEnum):
    ALL = "all"
    ALTER = "alter"
    ALTER_CONFIGS = "alter-configs"
    CLUSTER_ACTION = "cluster-action"
    CREATE = "create"
    DELETE = "delete"
    DESCRIBE = "describe"
    DESCRIBE_CONFIGS = "describe-configs"
    IDEMPOTENT_WRITE = "idempotent-write"
    READ = "read"
    WRITE = "write"

    def __str__(self) -> str:
        return str(self.value)
