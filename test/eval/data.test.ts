import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import type {Llama, LlamaModel} from "node-llama-cpp";
import {getSparqLlama} from "../../src/load.js";
import {readSquad, restrictToVocabulary, tokenizePrefix} from "../../src/eval/data.js";
import {seededRandom} from "../../src/random.js";
import {makeTempDir, sharedDir, stories260K} from "../helpers.js";

const tinyStories656K = path.join(sharedDir, "models", "tinystories-656K-f32.gguf");

describe("eval inputs", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    let llama: Llama;
    let model: LlamaModel;
    beforeAll(async () => {
        temp = await makeTempDir("eval-data");
        llama = await getSparqLlama({build: "never"});
        model = await llama.loadModel({modelPath: tinyStories656K});
    });
    afterAll(async () => {
        await model?.dispose();
        await llama?.dispose();
        await temp?.cleanup();
    });

    it("replaces the characters TinyStories-656K's vocabulary lacks (its tokenizer aborts on them)", () => {
        // "=", "(", ")", "#" and the tab are in no piece of this vocabulary; letters, digits, "." and "\n" are
        const {text, replaced} = restrictToVocabulary(model, " = Valkyria (2011) #1 =\tOnce.\n");
        expect(text).toBe("   Valkyria  2011   1   Once.\n");
        expect(replaced).toBe(6);
        // tokenising it does not abort the process
        expect(model.tokenize(text).length).toBeGreaterThan(5);
        expect(tokenizePrefix(model, text.repeat(50), 20)).toHaveLength(20);
    });

    it("leaves text alone that a byte-fallback vocabulary covers (stories260K)", async () => {
        const stories = await llama.loadModel({modelPath: stories260K});
        try {
            const text = "Once upon a time, Lily (3) said: \"=#@!\"\n";
            expect(restrictToVocabulary(stories, text)).toEqual({text, replaced: 0});
            expect(restrictToVocabulary(stories, "a\u{1F600}b").replaced).toBeLessThanOrEqual(1);
        } finally {
            await stories.dispose();
        }
    });

    it("reads SQuAD v1.1 files and names what is wrong with others", async () => {
        const paragraphs = await readSquad(path.join(import.meta.dirname, "fixtures", "squad-tiny.json"));
        expect(paragraphs).toHaveLength(4);
        expect(paragraphs[1]!.qas[0]).toEqual({id: "q3", question: "Who took the ball?", answers: ["Tom the dog", "Tom"]});
        const write = async (name: string, content: string) => {
            const file = path.join(temp.dir, name);
            await fs.writeFile(file, content);
            return file;
        };
        await expect(readSquad(await write("a.json", "{"))).rejects.toThrow(/a.json is not valid JSON/);
        await expect(readSquad(await write("b.json", "{\"version\": 2}"))).rejects.toThrow(/no top-level "data" array/);
        await expect(readSquad(await write("c.json", JSON.stringify({data: [{paragraphs: [{context: "x", qas: [{question: "q", answers: []}]}]}]}))))
            .rejects.toThrow(/data\[0\].paragraphs\[0\].qas\[0\] needs a "question" string and "answers"/);
        await expect(readSquad(path.join(temp.dir, "missing.json"))).rejects.toThrow(/text file not found/);
    });

    it("seeded random numbers repeat", () => {
        const a = seededRandom(7);
        const b = seededRandom(7);
        const xs = Array.from({length: 5}, () => a());
        expect(xs).toEqual(Array.from({length: 5}, () => b()));
        expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
        expect(new Set(xs).size).toBe(5);
    });
});
