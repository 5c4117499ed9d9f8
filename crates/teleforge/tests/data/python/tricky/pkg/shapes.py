"""Classes: methods, properties, static and class methods, a class body with assignments."""


class Shape:
    sides = 0
    names = [n for n in ("a", "b")]

    @staticmethod
    def kind():
        return "shape"

    def area(self):
        raise NotImplementedError


class Square(Shape):
    sides = 4

    def __init__(self, side):
        super().__init__()
        self._side = side

    @property
    def side(self):
        return self._side

    @classmethod
    def unit(cls):
        return cls(1)

    def area(self):
        return self._side ** 2


def describe(shape):
    kind = type(shape).__name__
    return f"{kind} with {shape.sides} sides"
