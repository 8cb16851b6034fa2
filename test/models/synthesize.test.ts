import {createHash} from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {getLlama, LlamaLogLevel, readGgufFileInfo, type GgufFileInfo, type Llama} from "node-llama-cpp";
import {architectureNames, resolveArchitecture} from "../../src/models/architectures.js";
import {encodeTensorData, float32ToFloat16Bits, GgufStreamWriter} from "../../src/models/gguf-writer.js";
import {resolveVocabPath, synthesizeModel} from "../../src/models/synthesize.js";
import {makeTempDir} from "../helpers.js";

/** A metadata value by its dotted GGUF key (node-llama-cpp nests the keys into objects). */
function metadataValue(info: GgufFileInfo, key: string): unknown {
    let value: unknown = info.metadata;
    for (const part of key.split("."))
        value = (value as Record<string, unknown> | undefined)?.[part];
    return value;
}

async function sha256(filePath: string): Promise<string> {
    return createHash("sha256").update(await fs.readFile(filePath)).digest("hex");
}

async function readFloat32s(filePath: string, fileOffset: number | bigint, count: number): Promise<Float32Array> {
    const file = await fs.open(filePath);
    try {
        const bytes = new Uint8Array(count * 4);
        await file.read(bytes, 0, bytes.byteLength, Number(fileOffset));
        return new Float32Array(bytes.buffer);
    } finally {
        await file.close();
    }
}

let temp: Awaited<ReturnType<typeof makeTempDir>>;
beforeAll(async () => {
    temp = await makeTempDir("synthesize");
});
afterAll(() => temp.cleanup());

describe("architectures", () => {
    it("knows the benchmark shapes", () => {
        expect(architectureNames).toEqual(
            expect.arrayContaining(["tiny-llama", "smollm2-135m", "llama2-7b", "llama3-8b", "qwen2.5-7b"])
        );
        const llama3 = resolveArchitecture({architecture: "llama3-8b"});
        expect(llama3).toMatchObject({
            n_layer: 32, n_embd: 4096, n_head: 32, n_head_kv: 8, head_dim: 128, n_ff: 14336,
            rope_freq_base: 500_000, context_length: 131_072, vocab: "llama-bpe"
        });
    });

    it("lists the known names when a name is unknown", () => {
        expect(() => resolveArchitecture({architecture: "llama9-1t"}))
            .toThrow(/Unknown architecture "llama9-1t".*tiny-llama.*llama3-8b/);
    });

    it("requires the whole shape without a name, and applies overrides to a named one", () => {
        expect(() => resolveArchitecture({overrides: {n_layer: 2} as never})).toThrow(/missing: n_embd, n_head/);
        expect(resolveArchitecture({architecture: "tiny-llama", overrides: {n_layer: 5, n_ff: undefined}}))
            .toMatchObject({n_layer: 5, n_ff: 128});
        expect(() => resolveArchitecture({architecture: "tiny-llama", overrides: {n_head_kv: 3}}))
            .toThrow(/multiple of n_head_kv/);
    });

    it("names the missing vocab file", async () => {
        const missing = path.join(temp.dir, "no-such-vocab.gguf");
        await expect(synthesizeModel({
            architecture: "tiny-llama", overrides: {vocab: missing}, outputPath: path.join(temp.dir, "x.gguf")
        })).rejects.toThrow(`Vocab file not found: ${missing}`);
    });
});

describe("tensor encodings", () => {
    it("rounds float16 to nearest even, with subnormals and overflow", () => {
        expect(float32ToFloat16Bits(1)).toBe(0x3c00);
        expect(float32ToFloat16Bits(-2)).toBe(0xc000);
        expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
        expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
        expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // halfway to the next power of two rounds up to infinity
        expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
        expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // a tie, rounded to even
        expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 units, a tie, rounded to even
    });

    it("encodes q8_0: f16 scale max|x|/127, int8 round half away from zero", () => {
        const values = new Float32Array(32);
        values.set([-127, 127, 0.5, -0.5, 1.5, -2.5, 63.4, -63.6]);
        const quants = [-127, 127, 1, -1, 2, -3, 63, -64, ...new Array<number>(24).fill(0)];
        // scale 127/127 = 1 is f16 0x3c00, stored little-endian
        expect([...encodeTensorData("q8_0", values)]).toEqual([0x00, 0x3c, ...quants.map((quant) => quant & 0xff)]);

        expect([...encodeTensorData("q8_0", new Float32Array(32))]).toEqual(new Array<number>(34).fill(0));
    });

    it("encodes q4_0: scale (largest-magnitude value)/-8, low nibbles hold elements 0-15", () => {
        const values = new Float32Array(32);
        values.set([8, -7, 0, 1, -1, 2.5, -2.5, -8], 0);
        values.set([3, -3], 16);
        // d = 8 / -8 = -1 (f16 0xbc00); q = min(15, trunc(x / d + 8.5)): 8->0, -7->15, 0->8, 1->7, -1->9,
        // 2.5->6, -2.5->11, -8->15 (16 clamped; -8 is not the first value of magnitude 8), 3->5, -3->11
        const lowNibbles = [0, 15, 8, 7, 9, 6, 11, 15, 8, 8, 8, 8, 8, 8, 8, 8];
        const highNibbles = [5, 11, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8];
        expect([...encodeTensorData("q4_0", values)])
            .toEqual([0x00, 0xbc, ...lowNibbles.map((low, index) => low | (highNibbles[index]! << 4))]);

        // an all-zero block has d = 0 / -8 = -0 (f16 0x8000), as in C
        expect([...encodeTensorData("q4_0", new Float32Array(32))]).toEqual([0x00, 0x80, ...new Array<number>(16).fill(0x88)]);
    });
});

describe("GGUF writer", () => {
    it("writes every metadata value type, read back by node-llama-cpp", async () => {
        const filePath = path.join(temp.dir, "types.gguf");
        const writer = await GgufStreamWriter.create(filePath, {
            metadata: [
                {key: "test.u8", type: "u8", value: 255},
                {key: "test.i8", type: "i8", value: -128},
                {key: "test.u16", type: "u16", value: 65535},
                {key: "test.i16", type: "i16", value: -32768},
                {key: "test.u32", type: "u32", value: 4_000_000_000},
                {key: "test.i32", type: "i32", value: -2_000_000_000},
                {key: "test.u64", type: "u64", value: 2n ** 63n},
                {key: "test.i64", type: "i64", value: -(2n ** 40n)},
                {key: "test.f32", type: "f32", value: 0.5},
                {key: "test.f64", type: "f64", value: 0.1},
                {key: "test.bool", type: "bool", value: true},
                {key: "test.string", type: "string", value: "héllo ☃"},
                {key: "test.strings", type: "array", itemType: "string", value: ["a", "", "ü"]},
                {key: "test.floats", type: "array", itemType: "f32", value: [1.5, -2]},
                {
                    key: "test.nested", type: "array", itemType: "array",
                    value: [{type: "array", itemType: "i32", value: [1, 2]}, {type: "array", itemType: "bool", value: [false]}]
                }
            ],
            tensors: [{name: "x", dimensions: [3], type: "f32"}, {name: "y", dimensions: [32, 2], type: "q8_0"}]
        });
        await writer.writeTensor("x", [new Uint8Array(new Float32Array([1, 2, 3]).buffer)]);
        await writer.writeTensor("y", [encodeTensorData("q8_0", new Float32Array(64).fill(1))]);
        await writer.close();

        const info = await readGgufFileInfo(filePath, {logWarnings: false});
        expect(info.version).toBe(3);
        expect(metadataValue(info, "test")).toEqual({
            u8: 255, i8: -128, u16: 65535, i16: -32768, u32: 4_000_000_000, i32: -2_000_000_000,
            u64: 2n ** 63n, i64: -(2n ** 40n), f32: 0.5, f64: 0.1, bool: true, string: "héllo ☃",
            strings: ["a", "", "ü"], floats: [1.5, -2], nested: [[1, 2], [false]]
        });
        expect(metadataValue(info, "general.alignment")).toBe(32);
        const [x, y] = info.tensorInfo!;
        expect(x).toMatchObject({name: "x", dimensions: [3], ggmlType: 0, offset: 0});
        expect(y).toMatchObject({name: "y", dimensions: [32, 2], ggmlType: 8, offset: 32});
        expect([...await readFloat32s(filePath, x!.fileOffset, 3)]).toEqual([1, 2, 3]);
        expect((await fs.stat(filePath)).size).toBe(Number(y!.fileOffset) + 2 * 34 + 28); // padded to 32
    });

    it("rejects out-of-order and wrongly sized tensors, leaving no file behind", async () => {
        const filePath = path.join(temp.dir, "bad.gguf");
        const writer = await GgufStreamWriter.create(filePath, {
            metadata: [], tensors: [{name: "a", dimensions: [4], type: "f32"}, {name: "b", dimensions: [4], type: "f32"}]
        });
        await expect(writer.writeTensor("b", [])).rejects.toThrow(/expected "a", got "b"/);
        await expect(writer.writeTensor("a", [new Uint8Array(12)])).rejects.toThrow(/got 12 bytes, expected 16/);
        await expect(writer.close()).rejects.toThrow(/missing: a, b/);
        const leftovers = (await fs.readdir(temp.dir)).filter((fileName) => fileName.startsWith("bad.gguf"));
        expect(leftovers).toEqual([]);
    });
});

describe("synthesizeModel", () => {
    it("writes llama metadata, tokenizer and tensor infos", async () => {
        const outputPath = path.join(temp.dir, "tiny-f16.gguf");
        const model = await synthesizeModel({architecture: "tiny-llama", tensorType: "f16", seed: 1, outputPath});
        const info = await readGgufFileInfo(outputPath, {logWarnings: false});

        expect(metadataValue(info, "general.architecture")).toBe("llama");
        expect(metadataValue(info, "general.name")).toBe("sparq-synthetic-tiny-llama");
        expect(metadataValue(info, "general.file_type")).toBe(1);
        expect(metadataValue(info, "sparq.synthetic.random_weights")).toBe(true);
        expect(metadataValue(info, "llama")).toMatchObject({
            context_length: 2048, embedding_length: 64, block_count: 2, feed_forward_length: 128, vocab_size: 32000,
            attention: {head_count: 4, head_count_kv: 2, key_length: 16, value_length: 16},
            rope: {dimension_count: 16, freq_base: 10000}
        });
        expect(metadataValue(info, "llama.attention.layer_norm_rms_epsilon")).toBeCloseTo(1e-5, 10);

        // the tokenizer is copied whole from llama.cpp's SentencePiece vocab
        const vocab = await readGgufFileInfo(resolveVocabPath("llama-spm"), {readTensorInfo: false, logWarnings: false});
        expect(metadataValue(info, "tokenizer")).toEqual(metadataValue(vocab, "tokenizer"));
        expect(model.vocabSize).toBe(32000);

        const layerTensors = (layer: number) => [
            [`blk.${layer}.attn_norm.weight`, [64], 0],
            [`blk.${layer}.attn_q.weight`, [64, 64], 1],
            [`blk.${layer}.attn_k.weight`, [64, 32], 1],
            [`blk.${layer}.attn_v.weight`, [64, 32], 1],
            [`blk.${layer}.attn_output.weight`, [64, 64], 1],
            [`blk.${layer}.ffn_norm.weight`, [64], 0],
            [`blk.${layer}.ffn_gate.weight`, [64, 128], 1],
            [`blk.${layer}.ffn_up.weight`, [64, 128], 1],
            [`blk.${layer}.ffn_down.weight`, [128, 64], 1]
        ];
        expect(info.tensorInfo!.map(({name, dimensions, ggmlType}) => [name, dimensions, ggmlType])).toEqual([
            ["token_embd.weight", [64, 32000], 1],
            ...layerTensors(0),
            ...layerTensors(1),
            ["output_norm.weight", [64], 0],
            ["output.weight", [64, 32000], 1]
        ]);
        expect(model.tensorCount).toBe(21);

        const outputNorm = info.tensorInfo!.find((tensor) => tensor.name === "output_norm.weight")!;
        expect([...await readFloat32s(outputPath, outputNorm.fileOffset, 64)]).toEqual(new Array<number>(64).fill(1));
        expect((await fs.stat(outputPath)).size).toBe(model.fileSize);
    });

    it("is deterministic for a seed, and the seed matters", async () => {
        const generate = (seed: number, name: string) => synthesizeModel({
            architecture: "tiny-llama", overrides: {n_layer: 1}, tensorType: "q8_0", seed,
            outputPath: path.join(temp.dir, name)
        });
        await generate(7, "seed7-a.gguf");
        await generate(7, "seed7-b.gguf");
        await generate(8, "seed8.gguf");

        const hashA = await sha256(path.join(temp.dir, "seed7-a.gguf"));
        expect(await sha256(path.join(temp.dir, "seed7-b.gguf"))).toBe(hashA);
        expect(await sha256(path.join(temp.dir, "seed8.gguf"))).not.toBe(hashA);
    });

    it("reuses an identical existing file only when asked and when the options match", async () => {
        const outputPath = path.join(temp.dir, "reuse.gguf");
        const options = {architecture: "tiny-llama", overrides: {n_layer: 1}, tensorType: "q4_0", outputPath} as const;
        expect((await synthesizeModel(options)).reused).toBe(false);
        expect((await synthesizeModel({...options, reuseExisting: true})).reused).toBe(true);
        expect((await synthesizeModel({...options, seed: 3, reuseExisting: true})).reused).toBe(false);
    });

    it("gives qwen2 Q/K/V biases and its own tokenizer", async () => {
        const outputPath = path.join(temp.dir, "tiny-qwen2.gguf");
        await synthesizeModel({
            architecture: "qwen2.5-7b",
            overrides: {n_layer: 1, n_embd: 64, n_head: 4, n_head_kv: 2, head_dim: 16, n_ff: 128},
            tensorType: "q4_0",
            outputPath
        });
        const info = await readGgufFileInfo(outputPath, {logWarnings: false});
        expect(metadataValue(info, "general.architecture")).toBe("qwen2");
        expect(metadataValue(info, "qwen2.rope.freq_base")).toBe(1_000_000);
        expect(metadataValue(info, "tokenizer.ggml.pre")).toBe("qwen2");
        const tensors = new Map(info.tensorInfo!.map((tensor) => [tensor.name, tensor]));
        expect(tensors.get("blk.0.attn_q.bias")).toMatchObject({dimensions: [64], ggmlType: 0});
        expect(tensors.get("blk.0.attn_k.bias")).toMatchObject({dimensions: [32], ggmlType: 0});
        expect(tensors.get("blk.0.attn_v.bias")).toMatchObject({dimensions: [32], ggmlType: 0});
        expect(tensors.get("token_embd.weight")).toMatchObject({dimensions: [64, 151936], ggmlType: 2});
    });

    it("refuses a quantized type whose blocks do not fit the rows", async () => {
        await expect(synthesizeModel({
            architecture: "tiny-llama", overrides: {n_embd: 48, n_head: 3, n_head_kv: 1}, tensorType: "q8_0",
            outputPath: path.join(temp.dir, "misfit.gguf")
        })).rejects.toThrow(/rows of 48 values, not a multiple of the 32-value block/);
    });
});

describe("stock node-llama-cpp runs the synthetic models", () => {
    let llama: Llama;
    beforeAll(async () => {
        llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
    });
    afterAll(() => llama.dispose());

    it.each([
        ["tiny-llama", "f32"],
        ["tiny-llama", "f16"],
        ["tiny-llama", "q8_0"],
        ["tiny-llama", "q4_0"],
        ["qwen2", "q8_0"]
    ] as const)("%s %s: finite logits and generated tokens", async (name, tensorType) => {
        const outputPath = path.join(temp.dir, `run-${name}-${tensorType}.gguf`);
        const {vocabSize} = await synthesizeModel(name === "qwen2"
            ? {
                architecture: "qwen2.5-7b",
                overrides: {n_layer: 2, n_embd: 64, n_head: 4, n_head_kv: 2, head_dim: 16, n_ff: 128},
                tensorType, outputPath
            }
            : {architecture: "tiny-llama", tensorType, outputPath});

        const model = await llama.loadModel({modelPath: outputPath});
        try {
            // one thread: llama.cpp's spinning workers crawl when other processes hold the cores
            const context = await model.createContext({contextSize: 256, threads: 1});
            const sequence = context.getSequence();
            const prompt = model.tokenize("Once upon a time");
            const evaluated = await sequence.controlledEvaluate([
                ...prompt.slice(0, -1),
                [prompt.at(-1)!, {generateNext: {logits: true, token: true}}]
            ]);
            const {logits, token: firstToken} = evaluated.at(-1)!.next;
            expect(logits!.size).toBe(vocabSize);
            expect([...logits!.values()].every(Number.isFinite)).toBe(true);
            expect(new Set(logits!.values()).size).toBeGreaterThan(1);

            const generated: number[] = [];
            for await (const token of sequence.evaluate([firstToken!])) {
                generated.push(token);
                if (generated.length === 6)
                    break;
            }
            expect(generated).toHaveLength(6);
            expect(generated.every((token) => Number.isInteger(token) && token >= 0 && token < vocabSize)).toBe(true);
        } finally {
            await model.dispose();
        }
    });
});
