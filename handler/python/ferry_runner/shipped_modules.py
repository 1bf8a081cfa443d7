"""`modules`: sources shipped with a call, importable while it runs; and the import caches
refreshed after installs."""

import importlib
import os
import shutil
import sys
import tempfile


def write_modules(modules):
    if not modules:
        return None
    root = tempfile.mkdtemp(prefix="ferry-modules-")
    for rel, source in modules.items():
        norm = os.path.normpath(rel)
        if os.path.isabs(rel) or norm.startswith("..") or norm in ("", ".") or "\x00" in rel:
            shutil.rmtree(root, ignore_errors=True)
            raise ValueError(f"modules: path {rel!r} must be relative and stay inside the module directory")
        target = os.path.join(root, norm)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as fh:
            fh.write(source)
    sys.path.insert(0, root)
    importlib.invalidate_caches()
    return root


def remove_modules(root):
    if root in sys.path:
        sys.path.remove(root)
    # Modules imported from this call's directory must not shadow the next call's sources.
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(root + os.sep):
            del sys.modules[name]
    shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Import caches after installs
# ---------------------------------------------------------------------------------------------


def invalidate_import_caches():
    import site

    importlib.invalidate_caches()
    added = []
    for directory in site.getsitepackages() + [site.getusersitepackages()]:
        if os.path.isdir(directory) and directory not in sys.path:
            site.addsitedir(directory)
            added.append(directory)
    return {"added_paths": added}
