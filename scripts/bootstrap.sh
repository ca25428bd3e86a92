#!/usr/bin/env bash
# Installs the local tools used by the tests and `make dev`:
#   .venv/                         moto (DynamoDB/KMS/SQS/Secrets Manager emulator), cfn-lint and
#                                  aws-sam-cli, from dev/requirements.txt
#   dev/oauth-server/node_modules  oidc-provider for the local OAuth server
#   web/node_modules               playwright-core for the browser tests
#   /usr/bin/chromium              Debian's Chromium for the browser tests (apt-get, as root or
#                                  through sudo; Playwright never downloads a browser here)
# Needs only python3, node and npm. Idempotent, and a no-op in milliseconds when nothing changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "bootstrap: $tool is required but not on PATH" >&2; exit 1; }
done

venv=.venv
requirements=dev/requirements.txt
# A copy of the requirements last installed successfully: compared by content, so a checkout
# that only touches the file's mtime does not trigger a reinstall.
stamp="$venv/.requirements.installed"

# bin/pip is checked as well as bin/python so a half-created venv gets repaired.
if [[ ! -x "$venv/bin/python" || ! -x "$venv/bin/pip" ]]; then
  echo "bootstrap: creating $venv"
  python3 -m venv --clear "$venv"
fi

if ! cmp -s "$requirements" "$stamp"; then
  echo "bootstrap: installing $requirements into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi

oauth_server=dev/oauth-server
# npm writes node_modules/.package-lock.json on every install, so it dates the last install.
if [[ ! -d "$oauth_server/node_modules" \
   || "$oauth_server/package-lock.json" -nt "$oauth_server/node_modules/.package-lock.json" ]]; then
  echo "bootstrap: npm ci in $oauth_server"
  (cd "$oauth_server" && npm ci --no-audit --no-fund --loglevel=error)
fi

# npm writes node_modules/.package-lock.json on every install, so it dates the last install.
if [[ ! -d web/node_modules \
   || web/package-lock.json -nt web/node_modules/.package-lock.json ]]; then
  echo "bootstrap: npm ci in web"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "bootstrap: installing Debian's chromium (the browser tests' browser)"
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

echo "bootstrap: ok"
