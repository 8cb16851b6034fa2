import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {runCommand} from "./exec.js";
import {applyPatches, hashPatchSeries} from "./patches.js";
import {getCacheDir, llamaCppDir, packageRoot} from "./paths.js";
import {findExecutable, ToolchainError} from "./toolchain.js";
import {readPin} from "./vendor.js";

/** Where a native tool runs: this machine (`-march=native`) or 64-bit Arm under qemu-aarch64. */
export type NativeTarget = "host" | "aarch64";

/**
 * The native programs of the patch series that need no libllama: the ops' correctness tests, the
 * attention's micro-benchmark and the KV cells' test behind the KQ mask's one-sequence case.
 */
export const nativeTools = ["test-sparq-attn", "test-sparq-update", "bench-sparq-attn", "test-kv-cells-seq"] as const;
export type NativeTool = typeof nativeTools[number];

const commonOptions = [
    "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_BUILD_TESTS=ON", "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_HTTPLIB=OFF"
];
const targetOptions: Record<NativeTarget, string[]> = {
    host: ["-DGGML_NATIVE=ON"],
    aarch64: [
        `-DCMAKE_TOOLCHAIN_FILE=${path.join(packageRoot, "scripts", "aarch64-linux-gnu.cmake")}`,
        "-DGGML_NATIVE=OFF", "-DGGML_CPU_ARM_ARCH=armv8.2-a+fp16", "-DGGML_OPENMP=OFF"
    ]
};


/** Builds the native test and benchmark for `target` from the patched tree (cached by pin, series and target); returns the binaries' folder. */
export async function buildNativeTools(target: NativeTarget = "host"): Promise<string> {
    const key = crypto.createHash("sha256")
        .update(JSON.stringify(await readPin())).update(await hashPatchSeries()).update(target).update(String(targetOptions[target]))
        .digest("hex").slice(0, 20);
    const buildDir = path.join(getCacheDir(), "native", `${target}-${key}`);
    const binDir = path.join(buildDir, "bin");
    if (await Promise.all(nativeTools.map((tool) => fs.stat(path.join(binDir, tool)))).then(() => true, () => false))
        return binDir;

    if (target === "aarch64" && await findExecutable("aarch64-linux-gnu-g++") == null)
        throw new ToolchainError("aarch64-linux-gnu-g++ was not found: install g++-aarch64-linux-gnu to cross-build the NEON kernels");
    await applyPatches();
    const ccache = await findExecutable("ccache") != null ? ["-DGGML_CCACHE=ON"] : ["-DGGML_CCACHE=OFF"];
    await runCommand("cmake", ["-S", llamaCppDir, "-B", buildDir, ...commonOptions, ...targetOptions[target], ...ccache], packageRoot);
    await runCommand("cmake", ["--build", buildDir, "--target", ...nativeTools, "-j", "2"], packageRoot);
    return binDir;
}

/** Runs a native tool (through qemu-aarch64 for the Arm build) and returns its output; throws with it on a non-zero exit. */
export async function runNativeTool(binDir: string, tool: NativeTool, args: string[], target: NativeTarget = "host"): Promise<string> {
    const binary = path.join(binDir, tool);
    if (target === "aarch64")
        return runCommand("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", binary, ...args], binDir);
    return runCommand(binary, args, binDir);
}
