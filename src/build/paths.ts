import os from "node:os";
import path from "node:path";
import {fileURLToPath} from "node:url";
import {createRequire} from "node:module";

/** Root of the sparq-llama package (the folder holding package.json). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Ordered patch series applied on top of the pinned llama.cpp. */
export const patchesDir = path.join(packageRoot, "patches");

/** Where the pinned llama.cpp is materialised and patched (git-ignored). */
export const vendorDir = path.join(packageRoot, "vendor");
export const llamaCppDir = path.join(vendorDir, "llama.cpp");
export const pinFile = path.join(vendorDir, "pin.json");

/** node-llama-cpp's `llama/` folder: its CMakeLists builds whatever `llama/llama.cpp` points to. */
export const nodeLlamaCppDir = path.resolve(path.dirname(createRequire(import.meta.url).resolve("node-llama-cpp")), "..");
export const nodeLlamaCppLlamaDir = path.join(nodeLlamaCppDir, "llama");

/**
 * Build cache, outside the checkout so that fresh clones on the same machine reuse it.
 * Override with SPARQ_CACHE_DIR.
 */
export function getCacheDir(): string {
    return process.env.SPARQ_CACHE_DIR ?? path.join(os.homedir(), ".cache", "sparq-llama");
}
