import fs from "node:fs/promises";
import path from "node:path";
import {getLlama, type Llama, type LlamaOptions} from "node-llama-cpp";
import {buildSparqLlama, findCachedBuild, type BuildProgress, type SparqBuild} from "./build/compile.js";
import {nodeLlamaCppLlamaDir} from "./build/paths.js";
import type {GpuBackend} from "./build/toolchain.js";

/** Options of {@link getSparqLlama}: node-llama-cpp's, with the build chosen by sparq-llama. */
export type SparqLlamaOptions = Omit<LlamaOptions,
    "gpu" | "build" | "cmakeOptions" | "usePrebuiltBinaries" | "existingPrebuiltBinaryMustMatchBuildOptions" | "skipDownload" | "dryRun"
> & {
    /** `false` (default) for CPU, `"cuda"` for a CUDA build; a CUDA build that finds no CUDA device throws. */
    gpu?: GpuBackend,
    /** Extra CMake options of the build (part of its cache key). */
    cmakeOptions?: Record<string, string>,
    /**
     * - `"auto"` (default): use the cached build, compiling it first if it is missing (minutes).
     * - `"never"`: use the cached build, throw if it is missing.
     * - `"forceRebuild"`: compile again.
     */
    build?: "auto" | "never" | "forceRebuild",
    /** Progress of a compile, if one is needed. */
    onBuildProgress?: (progress: BuildProgress) => void
};

/** Thrown when the loaded binary is not a sparq-llama build, or not the one that was asked for. */
export class SparqBinaryError extends Error {}

const markerPattern = /SPARQ : VERSION = (\S+)/;

/** The SparQ patch-series version compiled into `llama`, or null for a stock node-llama-cpp binary. */
export function getSparqVersion(llama: Llama): string | null {
    return markerPattern.exec(llama.systemInfo)?.[1] ?? null;
}

/**
 * node-llama-cpp loads a local build by name only through its `lastBuild.json`, one file for every
 * process: holding this lock from writing it until the binary is loaded keeps two processes that
 * load different builds (a test run, say) from loading each other's.
 */
async function withLoadLock<T>(work: () => Promise<T>): Promise<T> {
    const lock = path.join(nodeLlamaCppLlamaDir, ".sparq-load.lock");
    const deadline = Date.now() + 120_000;
    for (;;) {
        try {
            await fs.mkdir(lock);
            break;
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EEXIST")
                throw err;
            const stat = await fs.stat(lock).catch(() => null);
            if (stat != null && Date.now() - stat.mtimeMs > 120_000)
                await fs.rm(lock, {recursive: true, force: true}); // left behind by a killed process
            else if (Date.now() > deadline)
                throw new SparqBinaryError(`timed out waiting for ${lock}: remove it if no other process is loading a build`);
            await new Promise((resolve) => setTimeout(resolve, 50));
        }
    }
    try {
        return await work();
    } finally {
        await fs.rm(lock, {recursive: true, force: true});
    }
}

/** Places a cached build where node-llama-cpp loads local builds from, and marks it as the last build. */
async function installForLoading(build: SparqBuild): Promise<void> {
    const folderName = `sparq-${build.key}`;
    const target = path.join(nodeLlamaCppLlamaDir, "localBuilds", folderName);
    if (!await fs.stat(path.join(target, "buildDone.status")).catch(() => null)) {
        const staging = `${target}.staging-${process.pid}`;
        await fs.rm(staging, {recursive: true, force: true});
        await fs.cp(path.join(build.dir, "Release"), path.join(staging, "Release"), {recursive: true});
        await fs.writeFile(path.join(staging, "buildDone.status"), "");
        await fs.rm(target, {recursive: true, force: true});
        await fs.rename(staging, target).catch(async (err) => {
            // another process installed the same build meanwhile
            await fs.rm(staging, {recursive: true, force: true});
            if (!await fs.stat(path.join(target, "buildDone.status")).catch(() => null))
                throw err;
        });
    }
    await fs.writeFile(path.join(nodeLlamaCppLlamaDir, "lastBuild.json"), JSON.stringify({folderName}));
}

/**
 * Returns a node-llama-cpp `Llama` backed by the sparq-llama build of llama.cpp (building it if
 * needed). Never the stock binary: if what loads lacks the SparQ marker, this throws.
 */
export async function getSparqLlama(options: SparqLlamaOptions = {}): Promise<Llama> {
    const {gpu = false, cmakeOptions, build: buildMode = "auto", onBuildProgress, ...llamaOptions} = options;
    let build = buildMode === "forceRebuild" ? null : await findCachedBuild({gpu, cmakeOptions});
    if (build == null) {
        if (buildMode === "never")
            throw new SparqBinaryError(`no sparq-llama build for gpu=${gpu} is cached: run \`sparq build${gpu ? ` --gpu ${gpu}` : ""}\` first`);
        build = await buildSparqLlama({gpu, cmakeOptions, force: buildMode === "forceRebuild", onProgress: onBuildProgress});
    }
    const loaded = build;
    const llama = await withLoadLock(async () => {
        await installForLoading(loaded);
        return getLlama("lastBuild", {...llamaOptions, usePrebuiltBinaries: false, progressLogs: false});
    });
    const version = getSparqVersion(llama);
    if (version == null || llama.buildType !== "localBuild") {
        await llama.dispose();
        throw new SparqBinaryError(`the loaded llama.cpp binary is not a sparq-llama build (no SPARQ marker in its system info): rebuild with \`sparq build\``);
    }
    if (gpu !== false && llama.gpu !== gpu) {
        await llama.dispose();
        throw new SparqBinaryError(`a ${gpu} build was loaded but no ${gpu} device is usable here (backend in use: ${llama.gpu || "cpu"})`);
    }
    return llama;
}
