"""``imgopt scan``: audit a whole registry, each distinct layer analysed once.

Library entry point::

    import imgopt
    from imgopt.scan.pipeline import ScanOptions

    result = imgopt.scan(["docker://registry.example:5000"], ScanOptions(newest=3))   # ScanResult
    for image in result.images:
        print(image.reference, image.removable_bytes)

The modules: :mod:`.sources` (what to scan), :mod:`.pipeline` (list, resolve,
plan, run, assemble), :mod:`.tasks` (the layer, open and merge tasks),
:mod:`.engine` (a local process pool or Dask), :mod:`.record` (an image's
record and simulated cold start), :mod:`.fleet` (layer records and totals),
:mod:`.shards` (``imgopt scan merge``), :mod:`.result` (the types).
Per-layer work goes through the layer cache (:mod:`imgopt.cache`), which
``imgopt analyze`` shares.  docs/scan.md has the whole story.
"""

from imgopt.callable_package import make_callable

make_callable(__name__)  # imgopt.scan(...) runs imgopt.api.scan
