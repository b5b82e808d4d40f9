import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import *  # noqa: F401,F403,E402  (shared fixtures: app_archive, registry, docker_client)
