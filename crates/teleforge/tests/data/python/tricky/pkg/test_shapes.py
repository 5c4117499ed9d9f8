import unittest

from pkg.shapes import Square


class TestSquare(unittest.TestCase):
    def test_area(self):
        self.assertEqual(Square(2).area(), 4)
