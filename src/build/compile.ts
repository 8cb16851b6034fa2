import crypto from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {spawn} from "node:child_process";
import {applyAddonPatches, readAddonSeries} from "./addon.js";
import {hashPatchSeries, applyPatches} from "./patches.js";
import {buildRpcServer} from "./rpc-server.js";
import {getCacheDir, llamaCppDir, nodeLlamaCppDir, nodeLlamaCppLlamaDir} from "./paths.js";
import {assertToolchain, findExecutable, type GpuBackend} from "./toolchain.js";
import {listNodeLlamaCppBasePatches, readPin} from "./vendor.js";

export type BuildProgress = {
    /** Build steps done and in total, as ninja counts them; total is 0 before ninja starts. */
    done: number,
    total: number,
    /** The build tool's latest output line. */
    line: string
};

export type SparqBuildOptions = {
    /** `false` (default) for CPU only, `"cuda"` to compile the CUDA backend in as well. */
    gpu?: GpuBackend,
    /** Extra CMake options for llama.cpp, e.g. `{CMAKE_CUDA_ARCHITECTURES: "90"}`. Part of the cache key. */
    cmakeOptions?: Record<string, string>,
    /**
     * Compile ggml's RPC backend in (the same as `cmakeOptions: {GGML_RPC: "ON"}`) and build the patched
     * `rpc-server` too (see src/rpc.ts). A build with GGML_RPC=ON always gets its rpc-server.
     */
    rpc?: boolean,
    /** Rebuild even if the cache holds this build. */
    force?: boolean,
    /** Called for every line of the compiler's progress. */
    onProgress?: (progress: BuildProgress) => void
};

/** A compiled, patched node-llama-cpp addon in the build cache. */
export type SparqBuild = {
    /** Cache key: pin, node-llama-cpp's base patches, our series, options, platform and CPU. */
    key: string,
    /** Cache folder: holds `Release/` (the addon and its libraries) and `build.json`. */
    dir: string,
    gpu: GpuBackend,
    cmakeOptions: Record<string, string>,
    /** Seconds the compile took when it was made. */
    compileSeconds: number,
    /** True when this call found the build in the cache instead of compiling it. */
    fromCache: boolean,
    /** The patched rpc-server binary, for builds with GGML_RPC=ON. */
    rpcServer?: string
};

const buildInfoFile = "build.json";
const resultDirName = "Release";

/** GGML_NATIVE builds are tuned to the host CPU, so the CPU's identity is part of the key. */
async function cpuFingerprint(): Promise<string> {
    const cpuinfo = await fs.readFile("/proc/cpuinfo", "utf8").catch(() => "");
    const flags = /^(flags|Features)\s*:(.*)$/m.exec(cpuinfo)?.[2]?.trim() ?? "";
    return `${os.cpus()[0]?.model ?? "unknown"}|${flags}`;
}

/**
 * CMake options that apply when none are given: SPARQ_CMAKE_OPTIONS="NAME=VALUE;NAME=VALUE" (e.g.
 * CMAKE_CUDA_ARCHITECTURES=90), so that `sparq build` and every later load agree on one build.
 */
export function defaultCmakeOptions(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const options: Record<string, string> = {};
    for (const entry of (env.SPARQ_CMAKE_OPTIONS ?? "").split(";").map((part) => part.trim()).filter(Boolean)) {
        const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(entry);
        if (match == null)
            throw new Error(`SPARQ_CMAKE_OPTIONS: "${entry}" is not NAME=VALUE`);
        options[match[1]!] = match[2]!;
    }
    return options;
}

function normalizeCmakeOptions(options: Record<string, string> = defaultCmakeOptions()): Record<string, string> {
    return Object.fromEntries(Object.entries(options).sort(([a], [b]) => a.localeCompare(b)));
}

/** The cache key of a build: changes whenever anything that ends up in the binary changes (pin, both patch series, options, host). */
export async function getBuildKey({gpu = false, cmakeOptions}: Pick<SparqBuildOptions, "gpu" | "cmakeOptions"> = {}): Promise<string> {
    const hash = crypto.createHash("sha256");
    hash.update(JSON.stringify(await readPin()));
    for (const patch of await listNodeLlamaCppBasePatches())
        hash.update(await fs.readFile(patch));
    hash.update(await hashPatchSeries());
    hash.update(await readAddonSeries());
    hash.update(JSON.stringify({gpu, cmakeOptions: normalizeCmakeOptions(cmakeOptions)}));
    hash.update(`${process.platform}|${process.arch}|${process.versions.modules}|${await cpuFingerprint()}`);
    return hash.digest("hex").slice(0, 20);
}

/** The cached build for these options, or null if it has not been compiled yet. */
export async function findCachedBuild(options: Pick<SparqBuildOptions, "gpu" | "cmakeOptions"> = {}): Promise<SparqBuild | null> {
    const key = await getBuildKey(options);
    const dir = path.join(getCacheDir(), "builds", key);
    const info = await fs.readFile(path.join(dir, buildInfoFile), "utf8").catch(() => null);
    if (info == null || !await fs.stat(path.join(dir, resultDirName, "llama-addon.node")).catch(() => null))
        return null;
    return {...JSON.parse(info) as Omit<SparqBuild, "fromCache" | "dir">, dir, fromCache: true};
}

/** Makes node-llama-cpp's `llama/llama.cpp` (what its CMakeLists builds) point at our patched tree. */
async function linkPatchedTree(): Promise<void> {
    const seam = path.join(nodeLlamaCppLlamaDir, "llama.cpp");
    const current = await fs.readlink(seam).catch(() => null);
    if (current != null && path.resolve(path.dirname(seam), current) === llamaCppDir)
        return;
    await fs.rm(seam, {recursive: true, force: true});
    await fs.symlink(path.relative(path.dirname(seam), llamaCppDir), seam, "dir");
}

/** Runs node-llama-cpp's own `source build` (cmake-js underneath) and streams ninja's progress. */
async function runNodeLlamaCppBuild(gpu: GpuBackend, cmakeOptions: Record<string, string>, onProgress?: (p: BuildProgress) => void): Promise<void> {
    const env: NodeJS.ProcessEnv = {...process.env};
    for (const [name, value] of Object.entries(cmakeOptions))
        env[`NODE_LLAMA_CPP_CMAKE_OPTION_${name}`] = value;
    // ccache changes nothing in the output, so it stays out of the key: it only makes rebuilds after a patch edit fast.
    if (cmakeOptions.GGML_CCACHE == null && await findExecutable("ccache") != null)
        env.NODE_LLAMA_CPP_CMAKE_OPTION_GGML_CCACHE = "ON";

    const cli = path.join(nodeLlamaCppDir, "dist", "cli", "cli.js");
    const child = spawn(process.execPath, [cli, "source", "build", "--gpu", gpu === false ? "false" : gpu, "--noUsageExample"], {
        env, stdio: ["ignore", "pipe", "pipe"]
    });
    const tail: string[] = [];
    let progress: BuildProgress = {done: 0, total: 0, line: ""};
    const onLine = (line: string) => {
        tail.push(line);
        if (tail.length > 60)
            tail.shift();
        const step = /\[(\d+)\/(\d+)\]/.exec(line);
        progress = step ? {done: Number(step[1]), total: Number(step[2]), line} : {...progress, line};
        onProgress?.(progress);
    };
    for (const stream of [child.stdout, child.stderr]) {
        let pending = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => {
            const lines = (pending + chunk).split(/\r?\n/);
            pending = lines.pop() ?? "";
            lines.forEach(onLine);
        });
    }
    const code = await new Promise<number | null>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", resolve);
    });
    if (code !== 0)
        throw new Error(`the llama.cpp build failed (exit code ${code}); last output:\n${tail.join("\n")}`);
}

/**
 * Compiles node-llama-cpp's addon against the patched llama.cpp, or returns the cached build for the
 * same pin, series and options in milliseconds.
 */
export async function buildSparqLlama(options: SparqBuildOptions = {}): Promise<SparqBuild> {
    const build = await buildAddon(options);
    if (build.cmakeOptions.GGML_RPC === "ON")
        return {...build, rpcServer: await buildRpcServer("sparq")};
    return build;
}

async function buildAddon(options: SparqBuildOptions): Promise<SparqBuild> {
    const gpu = options.gpu ?? false;
    const cmakeOptions = normalizeCmakeOptions(options.rpc ? {...(options.cmakeOptions ?? defaultCmakeOptions()), GGML_RPC: "ON"} : options.cmakeOptions);
    if (!options.force) {
        const cached = await findCachedBuild({gpu, cmakeOptions});
        if (cached != null)
            return cached;
    }

    await assertToolchain(gpu);
    // a tree shipped already patched, without its git history (the GPU machine's copy), is built as it is
    if (process.env.SPARQ_VENDOR_PREPATCHED !== "1")
        await applyPatches();
    await applyAddonPatches();
    await linkPatchedTree();
    const started = performance.now();
    await runNodeLlamaCppBuild(gpu, cmakeOptions, options.onProgress);
    const compileSeconds = (performance.now() - started) / 1000;

    const lastBuild = JSON.parse(await fs.readFile(path.join(nodeLlamaCppLlamaDir, "lastBuild.json"), "utf8")) as {folderName: string};
    const key = await getBuildKey({gpu, cmakeOptions});
    const dir = path.join(getCacheDir(), "builds", key);
    const staging = `${dir}.staging-${process.pid}`;
    await fs.rm(staging, {recursive: true, force: true});
    await fs.cp(path.join(nodeLlamaCppLlamaDir, "localBuilds", lastBuild.folderName, resultDirName), path.join(staging, resultDirName), {recursive: true});
    const build: Omit<SparqBuild, "dir" | "fromCache"> = {key, gpu, cmakeOptions, compileSeconds};
    await fs.writeFile(path.join(staging, buildInfoFile), JSON.stringify(build, null, 2) + "\n");
    await fs.rm(dir, {recursive: true, force: true});
    await fs.rename(staging, dir);
    // Leave node-llama-cpp's own binary resolution as it was: stock getLlama() must never pick our build up by accident.
    await fs.rm(path.join(nodeLlamaCppLlamaDir, "localBuilds", lastBuild.folderName), {recursive: true, force: true});
    await fs.rm(path.join(nodeLlamaCppLlamaDir, "lastBuild.json"), {force: true});
    return {...build, dir, fromCache: false};
}
