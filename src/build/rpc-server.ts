import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {runCommand} from "./exec.js";
import {git} from "./git.js";
import {applyPatches, hashPatchSeries} from "./patches.js";
import {getCacheDir, llamaCppDir, packageRoot} from "./paths.js";
import {findExecutable} from "./toolchain.js";
import {baseTag, listNodeLlamaCppBasePatches, materializeVendor, readPin} from "./vendor.js";

/**
 * Which rpc-server: `"sparq"` is llama.cpp's `rpc-server` built from our patched tree (its protocol
 * carries the SparQ op, version 107.x); `"stock"` is the same program built from the unpatched pin
 * (tag sparq-base: the pin plus node-llama-cpp's fixes, protocol 7.x), which our client must refuse.
 */
export type RpcServerVariant = "sparq" | "stock";

/** The binary's name in the pinned llama.cpp (tools/rpc). */
const binaryName = "ggml-rpc-server";

// One static binary per variant: it outlives the build folder's libraries and needs no LD_LIBRARY_PATH.
const cmakeOptions = [
    "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DGGML_RPC=ON", "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_HTTPLIB=OFF"
];


/** Cache key of a variant: the pin and node-llama-cpp's fixes, plus our series for "sparq". */
async function rpcServerKey(variant: RpcServerVariant): Promise<string> {
    const hash = crypto.createHash("sha256").update(JSON.stringify(await readPin())).update(variant).update(String(cmakeOptions));
    for (const patch of await listNodeLlamaCppBasePatches())
        hash.update(await fs.readFile(patch));
    if (variant === "sparq")
        hash.update(await hashPatchSeries());
    return hash.digest("hex").slice(0, 20);
}

async function rpcServerBuildDir(variant: RpcServerVariant): Promise<string> {
    return path.join(getCacheDir(), "rpc-server", `${variant}-${await rpcServerKey(variant)}`);
}

/** Path of the cached rpc-server of `variant`, or null if it has not been built. */
export async function findRpcServer(variant: RpcServerVariant = "sparq"): Promise<string | null> {
    const binary = path.join(await rpcServerBuildDir(variant), "build", "bin", binaryName);
    return await fs.stat(binary).then(() => binary, () => null);
}

/**
 * Builds llama.cpp's rpc-server (a separate CMake build in the cache, target ggml-rpc-server) and
 * returns the binary's path; cached by pin and series. "sparq" builds vendor/llama.cpp with our
 * series applied; "stock" builds a copy of the tree at sparq-base.
 */
export async function buildRpcServer(variant: RpcServerVariant = "sparq"): Promise<string> {
    const cached = await findRpcServer(variant);
    if (cached != null)
        return cached;

    const dir = await rpcServerBuildDir(variant);
    let source = llamaCppDir;
    if (variant === "sparq")
        await applyPatches();
    else {
        await materializeVendor();
        source = path.join(dir, "src");
        if (!await fs.stat(path.join(source, "CMakeLists.txt")).catch(() => null)) {
            const staging = `${source}.staging-${process.pid}`;
            await fs.rm(staging, {recursive: true, force: true});
            await fs.mkdir(staging, {recursive: true});
            await git(llamaCppDir, ["archive", "--format=tar", "-o", path.join(staging, "tree.tar"), baseTag]);
            await runCommand("tar", ["-xf", "tree.tar"], staging);
            await fs.rm(path.join(staging, "tree.tar"));
            await fs.rm(source, {recursive: true, force: true});
            await fs.rename(staging, source);
        }
    }
    const buildDir = path.join(dir, "build");
    const ccache = await findExecutable("ccache") != null ? ["-DGGML_CCACHE=ON"] : ["-DGGML_CCACHE=OFF"];
    await runCommand("cmake", ["-S", source, "-B", buildDir, ...cmakeOptions, ...ccache], packageRoot);
    await runCommand("cmake", ["--build", buildDir, "--target", binaryName, "-j", "2"], packageRoot);
    const binary = await findRpcServer(variant);
    if (binary == null)
        throw new Error(`the rpc-server build finished but ${path.join(buildDir, "bin", binaryName)} is missing`);
    return binary;
}
