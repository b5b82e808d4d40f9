"""Predict cold pull + start latency (`imgopt simulate`) and measure the host (`imgopt calibrate`).

Profiles (registry, client, host) are YAML data in rules/simulate/; the model is a task graph
(:mod:`imgopt.simulate.model`) run by a fluid discrete-event simulator (:mod:`imgopt.simulate.engine`).
See docs/simulate.md.
"""
