"""A package: its modules import the runtime relatively."""
