#!/usr/bin/env bash
# One-command set-up: system packages, npm packages, the patched llama.cpp build (cached), then a
# generation with the small real model shipped beside the checkout (or SPARQ_MODEL / the default URI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
npm install --no-audit --no-fund
node dist/cli/main.js build
model="${SPARQ_MODEL:-../shared/models/stories260K-f32.gguf}"
[ -f "$model" ] || model=""
node dist/cli/main.js generate ${model:+--model "$model"} --prompt "Once upon a time" --tokens 48
