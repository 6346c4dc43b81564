from enum import StrEnum


class ResourceType(StrEnum):
    CLUSTER = "cluster"
    GROUP = "group"
    TOPIC = "topic"
    TRANSACTIONAL_ID = "transactional-id"

    def __str__(self) -> str:
        return str(self.value)
