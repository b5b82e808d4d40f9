"""Markdown (GitHub tables), one module per result kind (``render(result, options) -> str``)."""
