"""Books and the catalog that holds them."""
from dataclasses import dataclass, field


@dataclass
class Book:
    title: str
    author: str
    price: float

    def label(self) -> str:
        return f"{self.title} ({self.author})"


@dataclass
class Catalog:
    books: list = field(default_factory=list)

    def add(self, book: Book) -> None:
        self.books.append(book)

    @property
    def size(self) -> int:
        return len(self.books)

    @classmethod
    def of(cls, *books: Book) -> "Catalog":
        c = cls()
        for b in books:
            c.add(b)
        return c
