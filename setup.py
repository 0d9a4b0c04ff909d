"""Build hook: a wheel carries the data, notebooks and params the package reads at run time.

The project's metadata are in pyproject.toml. This file only copies the files that
sipas_analysis/resources.py lists (``PACKAGED``) into the built package, as
``sipas_analysis/_resources/{data,notebooks,params}``: into the build folder, never into the
source tree. An editable install (``make install``) gets no copies; it reads the checkout's own
folders.
"""
import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# resources.py imports only the standard library, so it runs without the package's dependencies
RESOURCES = runpy.run_path(str(ROOT / "sipas_analysis" / "resources.py"))


class BuildPyWithResources(build_py):
    """build_py, then the packaged copies of the project's files next to the modules."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "sipas_analysis" / RESOURCES["PACKAGED_DIR"].name
        shutil.rmtree(target, ignore_errors=True)  # nothing left over from an earlier build
        for source, relative in RESOURCES["packaged_files"](ROOT):
            self.mkpath(str((target / relative).parent))
            self.copy_file(str(source), str(target / relative))


setup(cmdclass={"build_py": BuildPyWithResources})
