"""Debian's Python packages for the tools (DESIGN: tools run on /usr/bin/python3 with Debian's
python3-numpy/python3-torch). ensure(tool, modules, packages) imports the modules; when one is
missing it installs the packages through tools/pyenv.sh and re-executes the calling script under
/usr/bin/python3 (the python3 first on PATH may be another interpreter)."""
import importlib
import os
import subprocess
import sys

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))


def ensure(tool, modules, packages=()):
    try:
        for module in modules:
            importlib.import_module(module)
        return
    except ImportError as error:
        main = sys.modules.get("__main__")
        script = os.path.abspath(getattr(main, "__file__", "") or "")
        if os.environ.get("DSA_PYENV_TRIED") or not script:
            sys.exit(f"{tool}: {error}; run with /usr/bin/python3 after "
                     f"`apt-get install -y {' '.join(packages) or 'python3-numpy'}`")
    subprocess.run(["bash", "-c", 'source "$1/pyenv.sh" && ensure_python_pkgs "${@:2}"', "_",
                    TOOLS_DIR, *packages], check=True)
    os.environ["DSA_PYENV_TRIED"] = "1"
    os.execv("/usr/bin/python3", ["/usr/bin/python3", script] + sys.argv[1:])
