"""Run an image's entrypoint in a sandbox and record which files it touches."""
