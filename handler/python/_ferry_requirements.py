"""Which requirements does this Python already satisfy? PEP 508 / PEP 440 by `packaging`, never by hand.

`packaging` is the only judge of requirement syntax in Ferry: an entry it cannot parse comes back
with `error` set and no name, and the worker refuses the call before any installer runs. A parsed
entry comes back in canonical form (PEP 503 name and extras, `packaging`'s spelling of the rest),
which is what the installer receives.

Imported by the runner (the persistent child answers `check_requirements`), and runnable on its
own: `python _ferry_requirements.py < requirements.json` prints the answers as JSON.
"""
import re as _ferry_re
_FERRY_INFO_DIR = _ferry_re.compile(r"^(?P<name>.+?)-(?P<version>[^-/]+?)(?:-py\d+(?:\.\d+)*)?\.(?:dist-info|egg-info)$")


def check_requirements(reqs):
    import importlib.metadata as md
    from packaging.requirements import Requirement, InvalidRequirement
    from packaging.utils import canonicalize_name
    results = []
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            results.append({"requirement": text, "name": "", "installed_version": None,
                            "satisfied": False, "marker_applies": False, "error": str(exc)})
            continue
        req.name = canonicalize_name(req.name)
        req.extras = {canonicalize_name(extra) for extra in req.extras}
        entry = {"requirement": str(req), "name": req.name, "installed_version": None,
                 "satisfied": False, "marker_applies": True}
        results.append(entry)
        try:
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                entry["marker_applies"] = False
                entry["satisfied"] = True
                continue
            try:
                dist = md.distribution(req.name)
            except md.PackageNotFoundError:
                continue
            version = _ferry_dist_version(dist)
            entry["installed_version"] = version
            if req.url:
                entry["satisfied"] = _ferry_direct_url(dist) == req.url
            else:
                entry["satisfied"] = req.specifier.contains(version, prereleases=True)
            if entry["satisfied"] and req.extras:
                missing = _ferry_missing_for_extras(dist, req.extras)
                if missing:
                    entry["satisfied"] = False
                    entry["error"] = "requirements of the extras are not satisfied: " + ", ".join(missing)
        except Exception as exc:  # one odd distribution must not fail the whole check
            entry["satisfied"] = False
            entry["error"] = f"{type(exc).__name__}: {exc}"
    return results


def _ferry_dist_version(dist):
    path = getattr(dist, "_path", None)
    match = _FERRY_INFO_DIR.match(getattr(path, "name", "") or "")
    if match and "_" not in match.group("version"):
        return match.group("version")
    return dist.version


def _ferry_direct_url(dist):
    import json
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        return json.loads(text).get("url")
    except ValueError:
        return None


def _ferry_missing_for_extras(dist, extras):
    import importlib.metadata as md
    from packaging.requirements import Requirement
    missing = []
    for line in dist.requires or []:
        dep = Requirement(line)
        if dep.marker is None or dep.marker.evaluate({"extra": ""}):
            continue
        if not any(dep.marker.evaluate({"extra": extra}) for extra in extras):
            continue
        try:
            version = _ferry_dist_version(md.distribution(dep.name))
        except md.PackageNotFoundError:
            missing.append(str(dep))
            continue
        if not dep.specifier.contains(version, prereleases=True):
            missing.append(str(dep))
    return missing


if __name__ == "__main__":
    import json
    import sys

    json.dump(check_requirements(json.load(sys.stdin)), sys.stdout)
