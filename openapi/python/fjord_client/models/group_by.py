from enum import StrEnum


class GroupBy(StrEnum):
    CLUSTER = "cluster"
    TOPIC = "topic"

    def __str__(self) -> str:
        return str(self.value)
