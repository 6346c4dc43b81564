from enum import StrEnum


class PatternType(StrEnum):
    LITERAL = "literal"
    PREFIXED = "prefixed"

    def __str__(self) -> str:
        return str(self.value)
