#!/usr/bin/env bash
# Regenerate requirements.lock from a set-up .venv (after changing pyproject.toml's dependencies
# and running scripts/setup.sh with the lock moved aside).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Versions the tests ran with (pip freeze of a set-up .venv, the project itself left out)."
  echo "# scripts/setup.sh installs with these as constraints; regenerate with scripts/lock.sh."
  .venv/bin/python -m pip freeze | grep -v -E '^-e |^# Editable|^newsrag=='
} > requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) pinned packages"
