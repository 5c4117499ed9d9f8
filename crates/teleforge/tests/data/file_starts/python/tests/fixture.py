def typed(a: int) -> int:
    return a
