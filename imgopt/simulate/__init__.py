"""Predict cold pull + start latency (`imgopt simulate`) and measure the host (`imgopt calibrate`).

Profiles (registry, client, host) are YAML data in imgopt/data/simulate/; the model is a task graph
(:mod:`imgopt.simulate.model`) run by a fluid discrete-event simulator (:mod:`imgopt.simulate.engine`).
See docs/simulate.md.
"""


from imgopt.callable_package import make_callable  # noqa: E402

make_callable(__name__)  # imgopt.simulate(...) runs imgopt.api.simulate
