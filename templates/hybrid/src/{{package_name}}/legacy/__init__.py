"""The Flask side of the hybrid: the example legacy app and how it is mounted."""
