"""The bookshop package."""
