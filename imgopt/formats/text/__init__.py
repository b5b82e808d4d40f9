"""Human-readable text, one module per result kind (``render(result, options) -> str``)."""
