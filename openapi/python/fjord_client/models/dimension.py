from enum import StrEnum


class Dimension(StrEnum):
    CLUSTER_HOURS = "cluster_hours"
    DATA_IN = "data_in"
    DATA_OUT = "data_out"
    PARTITION_HOURS = "partition_hours"
    STORAGE = "storage"

    def __str__(self) -> str:
        return str(self.value)
