import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {assertToolchain, findExecutable, ToolchainError} from "../../src/build/toolchain.js";
import {defaultCmakeOptions, getBuildKey} from "../../src/build/compile.js";
import {makeTempDir} from "../helpers.js";

describe("toolchain checks", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    /** A PATH holding only the given tools, linked to the real ones. */
    async function pathWith(tools: string[]): Promise<string> {
        const dir = await fs.mkdtemp(path.join(temp.dir, "bin-"));
        for (const tool of tools)
            await fs.symlink((await findExecutable(tool))!, path.join(dir, tool));
        return dir;
    }
    beforeAll(async () => {
        temp = await makeTempDir("toolchain");
    });
    afterAll(() => temp.cleanup());

    it("passes with cmake, a C++ compiler and git", async () => {
        await expect(assertToolchain(false, {env: {PATH: await pathWith(["cmake", "g++", "git"])}})).resolves.toBeUndefined();
    });

    it("names what is missing", async () => {
        await expect(assertToolchain(false, {env: {PATH: await pathWith(["g++", "git"])}}))
            .rejects.toThrow(new ToolchainError("cmake was not found on PATH: install it (Debian: apt-get install cmake)"));
        await expect(assertToolchain(false, {env: {PATH: await pathWith(["cmake", "git"])}})).rejects.toThrow(/no C\+\+ compiler/);
        await expect(assertToolchain(false, {env: {PATH: await pathWith(["cmake", "g++"])}})).rejects.toThrow(/git was not found/);
    });

    it("names nvcc when a CUDA build is asked for without the CUDA toolkit", async () => {
        const env = {PATH: await pathWith(["cmake", "g++", "git"]), CUDACXX: "/nonexistent/nvcc"};
        await expect(assertToolchain("cuda", {env, defaultCudaHome: "/nonexistent"})).rejects.toThrow(/nvcc was not found/);
    });
});

describe("build cache key", () => {
    it("changes with the backend and the CMake options, not with their order", async () => {
        const cpu = await getBuildKey({gpu: false});
        expect(await getBuildKey({gpu: false})).toBe(cpu);
        expect(await getBuildKey({gpu: "cuda"})).not.toBe(cpu);
        expect(await getBuildKey({gpu: false, cmakeOptions: {A: "1", B: "2"}}))
            .toBe(await getBuildKey({gpu: false, cmakeOptions: {B: "2", A: "1"}}));
        expect(await getBuildKey({gpu: false, cmakeOptions: {A: "1"}})).not.toBe(cpu);
    });

    it("takes default CMake options from SPARQ_CMAKE_OPTIONS, so builds and loads agree", async () => {
        expect(defaultCmakeOptions({SPARQ_CMAKE_OPTIONS: "CMAKE_CUDA_ARCHITECTURES=90; GGML_CUDA_F16=ON"}))
            .toEqual({CMAKE_CUDA_ARCHITECTURES: "90", GGML_CUDA_F16: "ON"});
        expect(defaultCmakeOptions({})).toEqual({});
        expect(() => defaultCmakeOptions({SPARQ_CMAKE_OPTIONS: "CUDA"})).toThrow(/SPARQ_CMAKE_OPTIONS: "CUDA" is not NAME=VALUE/);
        const plain = await getBuildKey({gpu: false});
        process.env.SPARQ_CMAKE_OPTIONS = "GGML_CUDA_F16=ON";
        try {
            expect(await getBuildKey({gpu: false})).toBe(await getBuildKey({gpu: false, cmakeOptions: {GGML_CUDA_F16: "ON"}}));
            expect(await getBuildKey({gpu: false})).not.toBe(plain);
        } finally {
            delete process.env.SPARQ_CMAKE_OPTIONS;
        }
    });
});
