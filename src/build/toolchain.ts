import fs from "node:fs/promises";
import path from "node:path";

/** Thrown when a tool the build needs (cmake, a C++ compiler, nvcc) is missing. */
export class ToolchainError extends Error {}

/** GPU backends `sparq build` can compile in; `false` is CPU only. */
export const supportedGpuBackends = [false, "cuda"] as const;
export type GpuBackend = typeof supportedGpuBackends[number];

/** Parses a user's `--gpu` value; throws naming the accepted values. */
export function parseGpuBackend(value: string | boolean | undefined): GpuBackend {
    if (value === undefined || value === false || value === "false" || value === "cpu" || value === "none")
        return false;
    if (value === "cuda")
        return "cuda";
    throw new Error(`unknown --gpu value "${String(value)}": use "cpu" (or false) or "cuda"`);
}

/** Finds an executable on PATH (or at an absolute path); null if absent. */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
    const candidates = path.isAbsolute(name)
        ? [name]
        : (env.PATH ?? "").split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name));
    for (const candidate of candidates) {
        if (await fs.access(candidate, fs.constants.X_OK).then(() => true, () => false))
            return candidate;
    }
    return null;
}

async function findFirst(names: string[], env: NodeJS.ProcessEnv): Promise<string | null> {
    for (const name of names) {
        const found = await findExecutable(name, env);
        if (found != null)
            return found;
    }
    return null;
}

export type ToolchainLookup = {
    /** Environment whose PATH, CXX, CUDACXX and CUDA_PATH are searched. */
    env?: NodeJS.ProcessEnv,
    /** Where the CUDA toolkit lives when neither PATH nor CUDA_PATH says. */
    defaultCudaHome?: string
};

/** Checks that everything a build with `gpu` needs is installed; throws a ToolchainError saying what to install. */
export async function assertToolchain(gpu: GpuBackend, {env = process.env, defaultCudaHome = "/usr/local/cuda"}: ToolchainLookup = {}): Promise<void> {
    if (await findExecutable("cmake", env) == null)
        throw new ToolchainError("cmake was not found on PATH: install it (Debian: apt-get install cmake)");
    if (await findFirst([env.CXX ?? "c++", "g++", "clang++"], env) == null)
        throw new ToolchainError("no C++ compiler was found (c++, g++ or clang++): install one (Debian: apt-get install g++)");
    if (await findExecutable("git", env) == null)
        throw new ToolchainError("git was not found on PATH: it materialises and patches vendor/llama.cpp (Debian: apt-get install git)");
    if (gpu === "cuda") {
        const nvcc = await findFirst([
            env.CUDACXX ?? "nvcc",
            ...(env.CUDA_PATH ? [path.join(env.CUDA_PATH, "bin", "nvcc")] : []),
            path.join(defaultCudaHome, "bin", "nvcc")
        ], env);
        if (nvcc == null)
            throw new ToolchainError("a CUDA build was requested but nvcc was not found: install the CUDA toolkit, or set CUDACXX or CUDA_PATH");
    }
}
