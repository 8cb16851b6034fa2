import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import {afterAll, beforeAll} from "vitest";
import type {Llama, LlamaModel} from "node-llama-cpp";
import {createCli} from "../src/cli/index.js";
import {getSparqLlama} from "../src/load.js";

/** ../shared beside the checkout: the real models and data provided with the project. */
export const sharedDir = path.resolve(import.meta.dirname, "..", "..", "shared");
export const stories260K = path.join(sharedDir, "models", "stories260K-f32.gguf");

/** A fresh temporary folder, removed by the returned cleanup. */
export async function makeTempDir(prefix: string): Promise<{dir: string, cleanup: () => Promise<void>}> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `sparq-${prefix}-`));
    return {dir, cleanup: () => fs.rm(dir, {recursive: true, force: true})};
}

/** The d = 128, GQA 3:1, 2k-context real model: the one for fidelity checks. */
export const gutenberg = path.join(sharedDir, "models", "gutenberg-llama-57m-d128-q8_0.gguf");
export const wikitext = path.join(sharedDir, "data", "wikitext-2-raw-test.txt");

/** Runs the `sparq` CLI in-process and returns the error it fails with. */
export async function cliFailure(argv: string[]): Promise<Error> {
    try {
        await createCli(argv).exitProcess(false).parseAsync();
    } catch (err) {
        return err as Error;
    }
    return new Error("the command succeeded");
}

/** Loads `modelPath` through our (cached) build for the enclosing describe block, and frees both after it. */
export function useSparqModel(modelPath: string): {readonly llama: Llama, readonly model: LlamaModel} {
    let llama: Llama | undefined;
    let model: LlamaModel | undefined;
    beforeAll(async () => {
        llama = await getSparqLlama({build: "never"});
        model = await llama.loadModel({modelPath});
    });
    afterAll(async () => {
        await model?.dispose();
        await llama?.dispose();
    });
    return {
        get llama() { return llama!; },
        get model() { return model!; }
    };
}
