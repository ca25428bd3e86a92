#!/usr/bin/env bash
# `make package`: every function built for arm64 exactly as `sam build` builds it (the
# rust-cargolambda build method: cargo-lambda, with zig as the cross linker), then zipped the
# way `sam deploy` uploads it; prints each binary's and zip's size. Needs the registries only:
# cargo-lambda and zig from PyPI, the aarch64 standard library through rustup.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh >/dev/null
venv=.venv
requirements=dev/package-requirements.txt
stamp="$venv/.package-requirements.installed"
if ! cmp -s "$requirements" "$stamp"; then
  echo "package: installing $requirements into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$stamp"
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
  || rustup target add aarch64-unknown-linux-gnu

export PATH="$root/$venv/bin:$PATH" SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
start=$(date +%s)
# With samconfig.toml's `parallel = true` the builds queue on the shared target directory's lock.
sam build --no-cached --beta-features
echo "package: sam build took $(( $(date +%s) - start )) s"

# The zip sam deploy uploads for each function: its build directory, bootstrap at the root.
"$venv/bin/python" - <<'PY'
import os, zipfile
build = ".aws-sam/build"
out = ".aws-sam/zips"
os.makedirs(out, exist_ok=True)
rows = []
for name in sorted(os.listdir(build)):
    bootstrap = os.path.join(build, name, "bootstrap")
    if not os.path.isfile(bootstrap):
        continue
    archive = os.path.join(out, f"{name}.zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        with open(bootstrap, "rb") as f:
            z.writestr(info, f.read(), zipfile.ZIP_DEFLATED)
    rows.append((name, os.path.getsize(bootstrap), os.path.getsize(archive)))
mib = 1024 * 1024
print(f"{'function':<28} {'binary MiB':>10} {'zip MiB':>8}")
for name, binary, archive in rows:
    print(f"{name:<28} {binary / mib:>10.2f} {archive / mib:>8.2f}")
print(f"{len(rows)} functions; zips in {out}/")
PY
