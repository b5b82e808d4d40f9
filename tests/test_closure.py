"""The language closure, one language at a time, on real (hand-made) images.

Each test builds a docker archive from tar layers holding a small app in one
language, scans it with the real scanner, and asks the closure what the
app's loaded files can load later: what must be caught, what must not be
(a second level of laziness, a TYPE_CHECKING import, tests and docs), and
that a load whose name is computed is reported, never guessed.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from layoututil import docker_archive, make_tar, sha
from imgopt.analyze.scan import scan_image
from imgopt.image.transports import open_image
from imgopt.minify.closure import ImageFiles, close

PY_STD = "/usr/lib/python3.11"


def _image(tmp_path: Path, files: dict[str, object], config: dict | None = None, *, gz: bool = False):
    """files: path -> bytes/str (0644), (bytes, mode), or ("->", target) for a symlink."""
    entries, dirs = [], set()
    for path in sorted(files):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                entries.append((d, "dir", None, 0o755))
        v = files[path]
        if isinstance(v, tuple) and v[0] == "->":
            entries.append((path.strip("/"), "symlink", v[1], 0o777))
            continue
        data, mode = (v if isinstance(v, tuple) else (v, 0o644))
        entries.append((path.strip("/"), "file", data.encode() if isinstance(data, str) else data, mode))
    layer = make_tar(entries)
    diff_id = sha(layer)
    if gz:
        layer = gzip.compress(layer, mtime=0)
    archive = docker_archive(tmp_path / "img.tar", [layer], config or {}, diff_ids=[diff_id])
    img = open_image(str(archive))
    scan = scan_image(img)
    return scan


def _close(scan, seeds, argvs=(), env=None, workdir="/"):
    cfg_env = dict(scan.image.config.env_dict)
    cfg_env.update(env or {})
    return close(ImageFiles(scan), seeds, env=cfg_env, workdir=workdir, argvs=[list(a) for a in argvs])


def _python_base(extra: dict | None = None) -> dict:
    files = {
        f"{PY_STD}/os.py": "import abc\n",  # the landmark
        f"{PY_STD}/abc.py": "",
        f"{PY_STD}/json/__init__.py": "from .decoder import JSONDecoder\n",
        f"{PY_STD}/json/decoder.py": "import re\n",
        f"{PY_STD}/re/__init__.py": "",
        f"{PY_STD}/zoneinfo/__init__.py": "from ._tzpath import reset_tzpath\n",
        f"{PY_STD}/zoneinfo/_tzpath.py": "",
        "/usr/share/zoneinfo/Asia/Tokyo": b"TZif2...",
        "/usr/share/zoneinfo/UTC": b"TZif2...",
        f"{PY_STD}/subprocess.py": "",
        "/usr/bin/python3.11": (b"\x7fELF-not-really", 0o755),
        "/usr/bin/jq": (b"\x7fELF-jq", 0o755),
        "/usr/bin/sort": (b"\x7fELF-sort", 0o755),
        "/bin/sh": (b"\x7fELF-dash", 0o755),
    }
    files.update(extra or {})
    return files


# --------------------------------------------------------------------------- Python


def test_python_lazy_imports_relative_imports_chains_and_data(tmp_path):
    site = "/usr/local/lib/python3.11/dist-packages"
    scan = _image(tmp_path, _python_base({
        "/app/server.py": (
            "import os\n"
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    import typeonly\n"
            "def handler():\n"
            "    import json\n"  # lazy, inside a function: caught
            "    from web.views import report\n"
            "    import importlib\n"
            "    importlib.import_module('plugins.csv')\n"
            "    importlib.import_module(name)\n"  # computed: reported
            "    from zoneinfo import ZoneInfo\n"
        ),
        f"{site}/web/__init__.py": "from . import util\n",
        f"{site}/web/util.py": "",
        f"{site}/web/views/__init__.py": "",
        f"{site}/web/views/report.py": "import json\ndef later():\n    import deep_lazy\n",
        f"{site}/web/templates/report.html": "<p>{{ x }}</p>",
        f"{site}/web/tests/test_web.py": "import pytest\n",
        f"{site}/web/README.md": "docs",
        f"{site}/deep_lazy.py": "",
        f"{site}/typeonly.py": "",
        f"{site}/plugins/__init__.py": "",
        f"{site}/plugins/csv.py": "",
        f"{site}/web/views/__pycache__/report.cpython-311.pyc": b"\x00pyc",
    }))
    res = _close(scan, ["/app/server.py"], workdir="/app")
    added = set(res.added)
    assert {f"{PY_STD}/json/__init__.py", f"{PY_STD}/json/decoder.py", f"{site}/web/__init__.py",
            f"{site}/web/util.py", f"{site}/web/views/__init__.py", f"{site}/web/views/report.py",
            f"{site}/plugins/__init__.py", f"{site}/plugins/csv.py"} <= added
    assert f"{site}/web/templates/report.html" in added  # data the package ships
    assert res.added[f"{site}/web/views/report.py"].by == "/app/server.py"
    assert "from web.views import report" in res.added[f"{site}/web/views/report.py"].how
    # zoneinfo reads the tz database
    assert "/usr/share/zoneinfo/Asia/Tokyo" in added
    # not caught: a TYPE_CHECKING import, a lazy import of a module the closure added, tests, docs,
    # and bytecode of modules never loaded (compiled from source if ever imported)
    assert f"{site}/typeonly.py" not in added and f"{site}/deep_lazy.py" not in added
    assert not any("/tests/" in p or p.endswith(".md") for p in added)
    assert f"{site}/web/views/__pycache__/report.cpython-311.pyc" not in added
    dyn = [u for u in res.unresolved if u.why == "dynamic"]
    assert [(u.file, u.line, u.what) for u in dyn] == [("/app/server.py", 10, "importlib.import_module(name)")]


def test_python_venv_sys_path_pth_and_entry_points(tmp_path):
    venv_site = "/opt/venv/lib/python3.11/site-packages"
    scan = _image(tmp_path, _python_base({
        "/opt/venv/pyvenv.cfg": "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n",
        "/opt/venv/bin/python3": ("->", "/usr/bin/python3.11"),
        "/opt/venv/bin/serve": ("#!/opt/venv/bin/python3\nfrom md import main\nmain()\n", 0o755),
        f"{venv_site}/md/__init__.py": "def render(ext):\n    import md.core\n",
        f"{venv_site}/md/core.py": "",
        f"{venv_site}/md/extensions/__init__.py": "",
        f"{venv_site}/md/extensions/tables.py": "import extra_dep\n",
        f"{venv_site}/extra_dep.py": "",
        f"{venv_site}/md-1.0.dist-info/METADATA": "Name: md\n",
        f"{venv_site}/md-1.0.dist-info/RECORD": "md/__init__.py,,\nmd/core.py,,\nmd/extensions/tables.py,,\n",
        f"{venv_site}/md-1.0.dist-info/entry_points.txt":
            "[console_scripts]\nmd = md.cli:main\n\n[md.extensions]\ntables = md.extensions.tables:TableExtension\n",
        f"{venv_site}/extra.pth": "/opt/plugins\n",
        "/opt/plugins/plug.py": "",
        # the system's dist-packages is not on this venv's path
        "/usr/lib/python3/dist-packages/extra_dep.py": "",
        "/app/run.py": "def f():\n    import plug\n    import md\n",
    }))
    res = _close(scan, ["/opt/venv/bin/serve", f"{venv_site}/md/__init__.py", "/app/run.py"])
    added = set(res.added)
    assert f"{venv_site}/md/core.py" in added  # lazy import of a loaded module
    assert f"{venv_site}/md/extensions/tables.py" in added  # through its distribution's entry points
    assert "entry point [md.extensions]" in res.added[f"{venv_site}/md/extensions/tables.py"].how
    assert f"{venv_site}/extra_dep.py" in added and "/usr/lib/python3/dist-packages/extra_dep.py" not in added
    assert f"{venv_site}/md-1.0.dist-info/METADATA" in added
    assert "/opt/plugins/plug.py" in added  # a .pth directory is on sys.path


def test_python_commands_bytecode_seeds_and_unparsable_files(tmp_path):
    scan = _image(tmp_path, _python_base({
        "/app/tool.py": ("import subprocess, os\n"
                         "def run():\n"
                         "    subprocess.run(['jq', '.'])\n"
                         "    os.system('sort -u data | jq -s .')\n"
                         "    subprocess.run(cmd)\n"),
        "/app/legacy.py": "import json\nprint 'python 2 syntax'\n",
        "/app/__pycache__/cached.cpython-311.pyc": b"\x00pyc",
        "/app/cached.py": "def g():\n    import json\n",
        "/app/__pycache__/orphan.cpython-311.pyc": b"\x00pyc",
    }))
    res = _close(scan, ["/app/tool.py", "/app/legacy.py", "/app/__pycache__/cached.cpython-311.pyc",
                        "/app/__pycache__/orphan.cpython-311.pyc"], workdir="/app")
    assert {"/usr/bin/jq", "/usr/bin/sort"} <= set(res.added)
    assert res.added["/usr/bin/jq"].how == "runs 'jq'"
    assert f"{PY_STD}/json/__init__.py" in res.added  # from legacy.py's line scan and cached.py's source
    whys = {(u.file, u.why) for u in res.unresolved}
    assert ("/app/legacy.py", "unparsed: line scan used") in whys
    assert ("/app/__pycache__/orphan.cpython-311.pyc", "bytecode without source: not read") in whys
    assert ("/app/tool.py", "dynamic") in whys


# --------------------------------------------------------------------------- Node


def _node_app(extra: dict | None = None) -> dict:
    nm = "/app/node_modules"
    files = {
        "/usr/bin/node": (b"\x7fELF-node", 0o755),
        "/usr/bin/jq": (b"\x7fELF-jq", 0o755),
        "/app/package.json": '{"name": "app", "main": "server.js"}',
        "/app/server.js": ("const express = require('express');\nconst fs = require('node:fs');\n"
                           "const path = require('path');\n"
                           "function later() { return require('./lib/' + name); }\n"
                           "app.post('/sum', () => require('body'));\n"
                           "async function esm() { const m = await import('esm-only'); }\n"
                           "require('child_process').execFile('jq', ['.']);\n"),
        "/app/views/index.html": "<p>hi</p>",
        f"{nm}/express/package.json": '{"name": "express", "main": "./lib/express"}',
        f"{nm}/express/lib/express.js": "module.exports = 1;",
        f"{nm}/express/test/app.js": "require('mocha')",
        f"{nm}/express/History.md": "changes",
        f"{nm}/body/package.json": '{"name": "body"}',
        f"{nm}/body/index.js": "function decode() { return require('iconv/lib'); }",
        f"{nm}/iconv/package.json": '{"name": "iconv", "main": "lib/index.js"}',
        f"{nm}/iconv/lib/index.js": "exports.get = () => require('../encodings');",
        f"{nm}/iconv/encodings/index.js": "module.exports = [require('./utf16'), require('./tables/big5.json')];",
        f"{nm}/iconv/encodings/utf16.js": "",
        f"{nm}/iconv/encodings/tables/big5.json": "[]",
        f"{nm}/iconv/encodings/lazy.js": "// loaded by name only",
        f"{nm}/esm-only/package.json": ('{"name": "esm-only", "exports": {".": {"import": "./dist/index.mjs", '
                                        '"require": null}, "./package.json": "./package.json"}}'),
        f"{nm}/esm-only/dist/index.mjs": "export * from './part.mjs';",
        f"{nm}/esm-only/dist/part.mjs": "",
        f"{nm}/esm-only/src/unused.ts": "",
        f"{nm}/huge/package.json": '{"name": "huge"}',
        f"{nm}/huge/index.js": "module.exports = require('./small');",
        f"{nm}/huge/small.js": "",
        f"{nm}/huge/blob.bin": b"x" * (5 << 20),
        f"{nm}/body/node_modules/nested/index.js": "",
    }
    files.update(extra or {})
    return files


def test_node_lazy_requires_resolution_and_whole_packages(tmp_path):
    nm = "/app/node_modules"
    scan = _image(tmp_path, _node_app())
    res = _close(scan, ["/app/server.js", f"{nm}/express/lib/express.js"], workdir="/app")
    added = set(res.added)
    # iconv's encodings: required lazily two packages away, resolved as Node would
    assert {f"{nm}/body/index.js", f"{nm}/iconv/lib/index.js", f"{nm}/iconv/encodings/index.js",
            f"{nm}/iconv/encodings/utf16.js", f"{nm}/iconv/encodings/tables/big5.json"} <= added
    # whole packages: what is loaded only by a computed name is there too; tests, docs, types are not
    assert f"{nm}/iconv/encodings/lazy.js" in added and "whole package iconv" in res.added[
        f"{nm}/iconv/encodings/lazy.js"].how
    assert f"{nm}/express/test/app.js" not in added and f"{nm}/express/History.md" not in added
    assert f"{nm}/esm-only/src/unused.ts" not in added
    # nested node_modules are their own packages
    assert f"{nm}/body/node_modules/nested/index.js" not in added
    # exports: the import condition, and what the .mjs re-exports
    assert {f"{nm}/esm-only/dist/index.mjs", f"{nm}/esm-only/dist/part.mjs"} <= added
    # the app's own package (views) is kept whole
    assert "/app/views/index.html" in added
    assert "/usr/bin/jq" in added
    dyn = [u for u in res.unresolved if u.why == "dynamic"]
    assert [(u.file, u.line) for u in dyn] == [("/app/server.js", 4)]


def test_node_package_over_the_bound_keeps_only_its_import_closure(tmp_path):
    nm = "/app/node_modules"
    scan = _image(tmp_path, _node_app({"/app/server.js": "require('huge');\n"}))
    res = _close(scan, ["/app/server.js"], workdir="/app")
    assert f"{nm}/huge/small.js" in res.added and f"{nm}/huge/blob.bin" not in res.added
    over = [u for u in res.unresolved if "bound" in u.why]
    assert any(u.what == f"{nm}/huge" for u in over), over


def test_node_global_folders_and_package_imports(tmp_path):
    scan = _image(tmp_path, _node_app({
        "/app/server.js": "require('debian-lib'); require('#internal');",
        "/app/package.json": '{"name": "app", "imports": {"#internal": {"node": "./src/internal.js"}}}',
        "/app/src/internal.js": "",
        "/usr/share/nodejs/debian-lib/package.json": '{"name": "debian-lib"}',
        "/usr/share/nodejs/debian-lib/index.js": "",
    }))
    res = _close(scan, ["/app/server.js"], workdir="/app")
    assert "/usr/share/nodejs/debian-lib/index.js" in res.added
    assert "/app/src/internal.js" in res.added


# --------------------------------------------------------------------------- shell


def test_shell_commands_through_the_scripts_path(tmp_path):
    scan = _image(tmp_path, _python_base({
        "/opt/tool/bin/convert": (b"\x7fELF", 0o755),
        "/usr/bin/gzip": (b"\x7fELF", 0o755),
        "/etc/app/env.sh": "export A=1\n",
        "/app/run.py": "import json\n",
        "/entry.sh": ("#!/bin/sh\nset -eu\nexport PATH=/opt/tool/bin:$PATH\n"
                      "cleanup() { gzip -9 log; }\n"
                      ". /etc/app/env.sh\n"
                      "case \"$1\" in\n  convert) convert a b ;;\n  *) cleanup ;;\nesac\n"
                      "[[ -n ${X:-} ]] && jq . < f\n"
                      "\"$TOOL\" --help\n"
                      "exec python3.11 -u /app/run.py\n", 0o755),
    }))
    res = _close(scan, ["/entry.sh"])
    added = set(res.added)
    assert {"/opt/tool/bin/convert", "/usr/bin/gzip", "/usr/bin/jq", "/etc/app/env.sh", "/usr/bin/python3.11",
            "/app/run.py"} <= added
    assert f"{PY_STD}/json/__init__.py" in added  # the Python script the shell script runs, read in turn
    assert not any(p.endswith(("/cleanup", "/set", "/case")) for p in added)
    assert any(u.why == "dynamic" and u.file == "/entry.sh" and u.line == 11 for u in res.unresolved)


# --------------------------------------------------------------------------- Java


def _jar(manifest: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", manifest)
        z.writestr("imgopt/Main.class", b"\xca\xfe\xba\xbe")
    return buf.getvalue()


def test_java_class_path_from_argv_and_manifests(tmp_path):
    scan = _image(tmp_path, {
        "/opt/app/app.jar": _jar("Manifest-Version: 1.0\r\nMain-Class: imgopt.Main\r\nClass-Path: lib/a.jar \r\n"
                                 " lib/b.jar\r\n"),
        "/opt/app/lib/a.jar": _jar("Manifest-Version: 1.0\nClass-Path: ../deps/c.jar\n"),
        "/opt/app/lib/b.jar": _jar("Manifest-Version: 1.0\n"),
        "/opt/app/deps/c.jar": _jar("Manifest-Version: 1.0\n"),
        "/opt/app/unused.jar": _jar("Manifest-Version: 1.0\n"),
        "/srv/cp/x.jar": _jar("Manifest-Version: 1.0\n"),
        "/srv/cp/y.jar": _jar("Manifest-Version: 1.0\n"),
        "/srv/classes/imgopt/Tool.class": b"\xca\xfe",
        "/srv/agent.jar": _jar("Manifest-Version: 1.0\n"),
    })
    res = _close(scan, [], argvs=[["java", "-jar", "/opt/app/app.jar"],
                                   ["/usr/bin/java", "-javaagent:/srv/agent.jar=opts", "-cp", "/srv/cp/*:/srv/classes",
                                    "imgopt.Tool"]])
    added = set(res.added)
    assert {"/opt/app/app.jar", "/opt/app/lib/a.jar", "/opt/app/lib/b.jar", "/opt/app/deps/c.jar", "/srv/cp/x.jar",
            "/srv/cp/y.jar", "/srv/classes/imgopt/Tool.class", "/srv/agent.jar"} <= added
    assert "/opt/app/unused.jar" not in added
    assert res.added["/opt/app/deps/c.jar"].how == "Class-Path of a.jar"


# --------------------------------------------------------------------------- Ruby


def test_ruby_requires_autoload_and_whole_libraries(tmp_path):
    rb = "/usr/lib/ruby/3.1.0"
    vr = "/usr/lib/ruby/vendor_ruby"
    scan = _image(tmp_path, {
        f"{rb}/rubygems.rb": "",
        f"{rb}/json.rb": "require 'json/common'\n",
        f"{rb}/json/common.rb": "",
        "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/json/ext/parser.so": b"\x7fELF",
        f"{vr}/tilt.rb": "module Tilt\n  autoload :ERBTemplate, 'tilt/erb'\nend\n",
        f"{vr}/tilt/erb.rb": "",
        f"{vr}/tilt/lazy_by_name.rb": "",
        f"{vr}/tilt/README.md": "docs",
        "/srv/app/app.rb": ("require 'tilt'\n"
                            "def json\n  require 'json'\n  require_relative 'lib/helper'\n"
                            "  require \"plugins/#{name}\"\n  `jq -n 1`\nend\n"),
        "/srv/app/lib/helper.rb": "",
        "/srv/app/views/index.erb": "<%= 1 %>",
        "/usr/bin/jq": (b"\x7fELF", 0o755),
    })
    res = _close(scan, ["/srv/app/app.rb", f"{vr}/tilt.rb"], workdir="/srv/app")
    added = set(res.added)
    assert {f"{rb}/json.rb", f"{rb}/json/common.rb", f"{vr}/tilt/erb.rb", "/srv/app/lib/helper.rb",
            "/usr/bin/jq"} <= added
    # whole libraries: tilt (loaded by name only) and json's extension in the architecture directory
    assert f"{vr}/tilt/lazy_by_name.rb" in added and f"{vr}/tilt/README.md" not in added
    assert "/usr/lib/x86_64-linux-gnu/ruby/3.1.0/json/ext/parser.so" in added
    assert "/srv/app/views/index.erb" in added  # the application directory
    assert [u.line for u in res.unresolved if u.why == "dynamic"] == [5]


# --------------------------------------------------------------------------- Perl


def test_perl_use_require_xs_and_namespaces(tmp_path):
    core = "/usr/share/perl/5.36"
    arch = "/usr/lib/x86_64-linux-gnu/perl/5.36"
    scan = _image(tmp_path, {
        f"{core}/strict.pm": "", f"{arch}/strict.pm": "",
        f"{core}/JSON/PP.pm": "use strict;\n", f"{core}/JSON/PP/Boolean.pm": "",
        f"{arch}/Digest/SHA.pm": "require XSLoader;\n", f"{arch}/auto/Digest/SHA/SHA.so": b"\x7fELF",
        f"{core}/XSLoader.pm": "",
        f"{core}/Unused/Mod.pm": "",
        "/srv/app/server.pl": ("use strict;\nuse lib '/srv/app/lib';\n"
                               "sub h { require JSON::PP; require Digest::SHA; require Imgopt::Helper;\n"
                               "  require $plugin; my $x = `jq -n 1`; }\n"
                               "=pod\n\nuse Unused::Mod;\n\n=cut\n"),
        "/srv/app/lib/Imgopt/Helper.pm": "1;\n",
        "/srv/app/templates/page.tmpl": "{$x}",
        "/usr/bin/jq": (b"\x7fELF", 0o755),
    })
    res = _close(scan, ["/srv/app/server.pl"], workdir="/srv/app")
    added = set(res.added)
    assert {f"{core}/JSON/PP.pm", f"{arch}/Digest/SHA.pm", f"{arch}/auto/Digest/SHA/SHA.so",
            "/srv/app/lib/Imgopt/Helper.pm", "/usr/bin/jq"} <= added
    assert f"{core}/JSON/PP/Boolean.pm" in added  # the namespace JSON::PP:: kept whole
    assert "/srv/app/templates/page.tmpl" in added
    assert f"{core}/Unused/Mod.pm" not in added  # only named in POD
    assert [u.line for u in res.unresolved if u.why == "dynamic"] == [4]


# --------------------------------------------------------------------------- PHP


def test_php_includes_and_library_packages(tmp_path):
    scan = _image(tmp_path, {
        "/srv/www/index.php": ("<?php\nif ($p == '/r') { require_once __DIR__ . '/lib/report.php'; }\n"
                               "include $computed;\necho shell_exec('jq -n 1');\n"),
        "/srv/www/lib/report.php": "<?php require_once '/usr/share/php/Twig/autoload.php';\n",
        "/srv/www/templates/r.twig": "{{ x }}",
        "/usr/share/php/Twig/autoload.php": "<?php spl_autoload_register(function ($c) {});\n",
        "/usr/share/php/Twig/Environment.php": "<?php\n",
        "/usr/share/php/Twig/Loader/FilesystemLoader.php": "<?php\n",
        "/usr/share/php/Other/Unused.php": "<?php\n",
        "/usr/bin/jq": (b"\x7fELF", 0o755),
    })
    res = _close(scan, ["/srv/www/index.php"], workdir="/srv/www")
    added = set(res.added)
    assert {"/srv/www/lib/report.php", "/usr/share/php/Twig/autoload.php", "/usr/share/php/Twig/Environment.php",
            "/usr/share/php/Twig/Loader/FilesystemLoader.php", "/srv/www/templates/r.twig", "/usr/bin/jq"} <= added
    assert "/usr/share/php/Other/Unused.php" not in added
    assert [u.line for u in res.unresolved if u.why == "dynamic"] == [3]


# --------------------------------------------------------------------------- images


def test_streamed_layers_are_read_too(tmp_path):
    """A compressed layer has no in-place content: its sources are streamed once to a scratch copy."""
    scan = _image(tmp_path, _python_base({"/app/server.py": "def f():\n    import json\n"}), gz=True)
    assert not scan.content.is_seekable(0)
    res = _close(scan, ["/app/server.py"])
    assert f"{PY_STD}/json/decoder.py" in res.added


@pytest.mark.parametrize("junk", [b"\xff\xfe\x00garbage\x00" * 50, b"def (((:\n" * 1000, b"(" * 200000])
def test_hostile_sources_are_not_crashes(tmp_path, junk):
    files = {"/app/x.py": junk, "/app/x.js": junk, "/app/x.rb": junk, "/app/x.pl": junk, "/app/x.php": junk,
             "/app/x.sh": junk, "/app/x.jar": junk}
    scan = _image(tmp_path, _python_base(files))
    res = _close(scan, list(files))
    assert res.scanned  # every language read its file and survived


def test_python_stdlib_loads_by_name_find_spec_and_scripts_among_package_data(tmp_path):
    site = "/usr/local/lib/python3.11/dist-packages"
    scan = _image(tmp_path, _python_base({
        f"{PY_STD}/encodings/__init__.py": "def search_function(name):\n    __import__('encodings.' + name)\n",
        f"{PY_STD}/encodings/utf_8.py": "", f"{PY_STD}/encodings/cp1252.py": "import codecs\n",
        f"{PY_STD}/codecs.py": "",
        f"{PY_STD}/html/__init__.py": "", f"{PY_STD}/html/parser.py": "",
        f"{site}/tool/__init__.py": ("import importlib.util\n"
                                     "spec = importlib.util.find_spec('html.parser')\n"),
        f"{site}/tool/bin/run.sh": ("#!/bin/sh\njq . \"$1\"\n", 0o755),
        f"{site}/tool/bin/notes.sh": "#!/bin/sh\nsort x\n",  # not executable: data, not read
    }))
    res = _close(scan, [f"{PY_STD}/encodings/__init__.py", f"{PY_STD}/encodings/utf_8.py", f"{site}/tool/__init__.py"])
    added = set(res.added)
    assert f"{PY_STD}/encodings/cp1252.py" in added
    assert f"{PY_STD}/codecs.py" not in added  # frozen into 3.11: loaded from the binary, a seed, not kept
    assert "imported by name by the standard library's encodings" in res.added[f"{PY_STD}/encodings/cp1252.py"].how
    assert f"{PY_STD}/html/parser.py" in added
    assert {f"{site}/tool/bin/run.sh", f"{site}/tool/bin/notes.sh", "/usr/bin/jq"} <= added
    assert "/usr/bin/sort" not in added


def test_python_literal_loops_constants_and_main_blocks(tmp_path):
    site = "/usr/local/lib/python3.11/dist-packages"
    scan = _image(tmp_path, _python_base({
        f"{site}/compat.py": ("PLUGINS = ('plug_a', 'plug_b')\n"
                              "for package in ('urllib3', 'idna'):\n    locals()[package] = __import__(package)\n"
                              "def load():\n    for p in PLUGINS:\n        __import__(p)\n"
                              "if __name__ == '__main__':\n    import cli_only\n"),
        f"{site}/urllib3.py": "", f"{site}/idna.py": "", f"{site}/plug_a.py": "", f"{site}/plug_b.py": "",
        f"{site}/cli_only.py": "",
        "/app/main.py": "if __name__ == '__main__':\n    import cli_only\n",
    }))
    res = _close(scan, [f"{site}/compat.py"])
    added = set(res.added)
    assert {f"{site}/urllib3.py", f"{site}/idna.py", f"{site}/plug_a.py", f"{site}/plug_b.py"} <= added
    assert f"{site}/cli_only.py" not in added  # a library module's __main__ block never runs when imported
    assert f"{site}/cli_only.py" in _close(scan, [f"{site}/compat.py"], argvs=[["python3", "-m", "compat"]]).added
    assert f"{site}/cli_only.py" in _close(scan, ["/app/main.py"]).added  # the program's own __main__ block runs


def test_python_frozen_modules_count_as_loaded(tmp_path):
    """importlib._bootstrap_external is frozen: never opened, yet its lazy imports run (importlib.readers)."""
    scan = _image(tmp_path, _python_base({
        f"{PY_STD}/importlib/__init__.py": "",
        f"{PY_STD}/importlib/_bootstrap_external.py": "def get_resource_reader():\n    from importlib.readers import FileReader\n",
        f"{PY_STD}/importlib/readers.py": "",
        "/app/a.py": "import json\n",
    }))
    res = _close(scan, ["/app/a.py"])
    assert f"{PY_STD}/importlib/readers.py" in res.added
    assert "frozen" not in res.added.get(f"{PY_STD}/importlib/_bootstrap_external.py", type("x", (), {"how": ""})).how


def test_slim_writes_the_kept_audit_and_bytes_per_reason(tmp_path, docker_client):
    """`--kept` lists every kept path with its reason; the summary's bytes per reason add up to it."""
    import json

    from conftest import SAMPLE_TAR, run_imgopt

    probes = tmp_path / "p.yaml"
    probes.write_text((SAMPLE_TAR.parent / "sample/probe.yaml").read_text())
    kept = tmp_path / "kept.json"
    p = run_imgopt("slim", str(SAMPLE_TAR), "--probe", str(probes), "--kept", str(kept), "--format", "json", "-q",
                   "-o", f"oci:{tmp_path / 'o'}:v1")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    doc = json.loads(kept.read_text())
    entries = {e["path"]: e for e in doc["kept"]}
    assert entries["/bin/busybox"]["category"] in ("trace", "ELF/shebang closure")
    assert all(e["reason"] and e["category"] for e in doc["kept"])
    total = sum(v["bytes"] for v in rep["kept_by_reason"].values())
    assert total == sum(e["size"] for e in doc["kept"]) > 0
    assert rep["slim"]["file_bytes"] <= total  # (hardlinked files count once in file_bytes)
    text = run_imgopt("slim", str(SAMPLE_TAR), "--probe", str(probes), "-q", "-o", f"oci:{tmp_path / 't'}:v1")
    assert "kept by reason:" in text.stdout and "trace" in text.stdout
