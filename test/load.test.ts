import {execFile} from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import {promisify} from "node:util";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import type {Llama} from "node-llama-cpp";
import {generate} from "../src/generate.js";
import {getSparqLlama, getSparqVersion, SparqBinaryError} from "../src/load.js";
import {ModelResolutionError, resolveModel} from "../src/models/resolve.js";
import {makeTempDir, stories260K} from "./helpers.js";

const execFileAsync = promisify(execFile);
const prompt = "Once upon a time";

/** Greedy completion by stock node-llama-cpp, in a process of its own (see the fixture). */
async function stockGreedyCompletion(modelPath: string, maxTokens: number): Promise<{text: string, systemInfo: string}> {
    const fixture = path.join(import.meta.dirname, "fixtures", "stock-completion.mjs");
    const {stdout} = await execFileAsync(process.execPath, [fixture, modelPath, prompt, String(maxTokens)]);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result.buildType).toBe("prebuilt");
    return result;
}

describe("getSparqLlama", () => {
    let llama: Llama;
    beforeAll(async () => {
        llama = await getSparqLlama({build: "never"});
    });
    afterAll(() => llama.dispose());

    it("loads our build, which carries the SparQ marker", () => {
        expect(getSparqVersion(llama)).toMatch(/^\d+$/);
        expect(llama.buildType).toBe("localBuild");
        expect(llama.gpu).toBe(false);
    });

    it("generates with the real TinyStories model exactly like stock node-llama-cpp", async () => {
        const ours = await generate(llama, {modelPath: stories260K, prompt, maxTokens: 24});
        expect(ours.tokens.length).toBeGreaterThan(4);
        const stock = await stockGreedyCompletion(stories260K, 24);
        expect(getSparqVersion({systemInfo: stock.systemInfo} as Llama)).toBeNull();
        expect(ours.text).toBe(stock.text);
    });

    it("throws instead of compiling when build: 'never' finds no cached build", async () => {
        await expect(getSparqLlama({build: "never", cmakeOptions: {SPARQ_TEST_UNBUILT_OPTION: "1"}}))
            .rejects.toThrow(SparqBinaryError);
    });
});

describe("model resolution", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    beforeAll(async () => {
        temp = await makeTempDir("models");
    });
    afterAll(() => temp.cleanup());

    it("names a missing model file", async () => {
        const missing = path.join(temp.dir, "missing.gguf");
        await expect(resolveModel(missing)).rejects.toThrow(new ModelResolutionError(`model file not found: ${missing}`));
    });

    it("names a corrupt GGUF file", async () => {
        const corrupt = path.join(temp.dir, "corrupt.gguf");
        await fs.writeFile(corrupt, Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(64, 0xff)]));
        await expect(resolveModel(corrupt)).rejects.toThrow(/corrupt\.gguf is not a valid GGUF model file/);
        const truncated = path.join(temp.dir, "truncated.gguf");
        await fs.writeFile(truncated, (await fs.readFile(stories260K)).subarray(0, 100));
        await expect(resolveModel(truncated)).rejects.toThrow(/truncated\.gguf is not a valid GGUF model file/);
    });

    it("resolves a URI through the downloader and explains how to work offline", async () => {
        const seen: string[] = [];
        await expect(resolveModel("hf:someone/model-GGUF:Q8_0", {
            download: async (uri) => {
                seen.push(uri);
                return stories260K;
            }
        })).resolves.toBe(stories260K);
        expect(seen).toEqual(["hf:someone/model-GGUF:Q8_0"]);

        await expect(resolveModel("hf:someone/model-GGUF:Q8_0", {
            download: async () => {
                throw new Error("getaddrinfo ENOTFOUND");
            }
        })).rejects.toThrow(/--model \/path\/to\/model\.gguf or SPARQ_MODEL/);
    });
});
