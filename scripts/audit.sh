#!/usr/bin/env bash
# Audit the locked dependencies for known vulnerabilities with pip-audit (PyPA), run from a
# throwaway virtualenv so it never changes .venv. Exit 0: every package audited, none
# vulnerable; 1: vulnerabilities found (listed); 2: some packages could not be audited (the
# vulnerability service was unreachable or did not know them), which is not a clean bill.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="${AUDIT_VENV:-/tmp/newsrag-audit-venv}"
[ -x "$tool/bin/pip-audit" ] || { python3 -m venv "$tool" && "$tool/bin/pip" install -q pip-audit; }
out="$(mktemp)"
status=0
"$tool/bin/pip-audit" -r requirements.lock --no-deps --disable-pip --progress-spinner off -f json -o "$out" \
  || status=$?
python3 - "$out" "$status" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
deps = report["dependencies"]
skipped = [d for d in deps if d.get("skip_reason")]
vulnerable = [d for d in deps if d.get("vulns")]
for d in vulnerable:
    for v in d["vulns"]:
        print(f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release yet'})")
print(f"{len(deps)} locked packages: {len(deps) - len(skipped)} audited, {len(vulnerable)} vulnerable, "
      f"{len(skipped)} not audited")
if skipped:
    print("not audited, e.g.:", skipped[0]["skip_reason"])
sys.exit(1 if vulnerable else 2 if skipped else 0)
PY
