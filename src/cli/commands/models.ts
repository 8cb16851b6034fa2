import fs from "node:fs/promises";
import path from "node:path";
import type {Argv, CommandModule} from "yargs";
import {architectureNames, isArchitectureName} from "../../models/architectures.js";
import {synthesizeModel, type SynthesizedTensorType} from "../../models/synthesize.js";

const tensorTypes = ["f16", "q8_0", "q4_0", "f32"] as const satisfies readonly SynthesizedTensorType[];

type SynthArgs = {arch: string, type: string, out: string, seed: number, layers?: number, contextLength?: number};

const synthCommand: CommandModule<object, SynthArgs> = {
    command: "synth",
    describe: "Write a GGUF model with random weights in the shape of a real one (for speed work: it generates meaningless text)",
    builder: (yargs) => yargs
        .option("arch", {type: "string", demandOption: true, describe: `Shape: ${architectureNames.join(", ")}`})
        .option("type", {type: "string", default: "f16", describe: `Weight type: ${tensorTypes.join(", ")}`})
        .option("out", {alias: "o", type: "string", demandOption: true, describe: "The .gguf file to write (its folder is created)"})
        .option("seed", {type: "number", default: 0, describe: "Seed of the weights: the same options give a byte-identical file"})
        .option("layers", {type: "number", describe: "Layer count instead of the shape's (fewer layers: a smaller file, same per-layer shape)"})
        .option("context-length", {type: "number", describe: "Training context written into the file instead of the shape's (loaders and sparq bench cap contexts to it)"})
        .check((args) => {
            if (!isArchitectureName(args.arch))
                throw new Error(`--arch "${args.arch}" is not a known shape: ${architectureNames.join(", ")}`);
            if (!(tensorTypes as readonly string[]).includes(args.type))
                throw new Error(`--type "${args.type}" is not one of ${tensorTypes.join(", ")}`);
            if (!Number.isSafeInteger(args.seed) || args.seed < 0)
                throw new Error(`--seed must be an integer >= 0, got ${args.seed}`);
            if (args.layers != null && (!Number.isInteger(args.layers) || args.layers < 1))
                throw new Error(`--layers must be a positive integer, got ${args.layers}`);
            const contextLength = args.contextLength as number | undefined;
            if (contextLength != null && (!Number.isInteger(contextLength) || contextLength < 16))
                throw new Error(`--context-length must be an integer >= 16, got ${contextLength}`);
            if (args.out.trim() === "")
                throw new Error("--out must name a file");
            return true;
        })
        .example("$0 models synth --arch smollm2-135m --type f16 --out /tmp/smollm2-135m-f16.gguf", "~270 MB, 30 layers")
        .example("$0 models synth --arch llama3-8b --type q4_0 --layers 4 --out /tmp/l3-4layers.gguf", "Llama 3 8B layers, only 4 of them")
        .example("$0 models synth --arch smollm2-135m --context-length 32768 --out /tmp/smollm2-32k.gguf", "SmolLM2's shape, benchmarkable beyond its 8k context"),
    handler: async (args) => {
        if (!isArchitectureName(args.arch))
            throw new Error(`--arch "${args.arch}" is not a known shape`);
        const outputPath = path.resolve(args.out);
        await fs.mkdir(path.dirname(outputPath), {recursive: true});
        process.stderr.write("sparq models synth: RANDOM WEIGHTS: the model has the shape and speed of the real one, " +
            "but generates meaningless text. Use it for speed work, not for text quality.\n");
        let lastDecile = -1;
        const started = performance.now();
        const model = await synthesizeModel({
            architecture: args.arch,
            overrides: {
                ...(args.layers == null ? {} : {n_layer: args.layers}),
                ...(args.contextLength == null ? {} : {context_length: args.contextLength})
            },
            tensorType: args.type as SynthesizedTensorType,
            seed: args.seed,
            outputPath,
            onProgress: ({bytesWritten, totalBytes}) => {
                const decile = Math.floor((bytesWritten / totalBytes) * 10);
                if (decile > lastDecile) {
                    lastDecile = decile;
                    process.stderr.write(`  writing ${(bytesWritten / 1e6).toFixed(0)} / ${(totalBytes / 1e6).toFixed(0)} MB\n`);
                }
            }
        });
        const {architecture: shape} = model;
        console.log(
            `wrote ${model.path}: ${args.arch} shape (${shape.n_layer} layers, ${shape.n_head}/${shape.n_head_kv} heads of ${shape.head_dim}, ` +
            `context ${shape.context_length}), ${model.tensorType}, ${(model.parameterCount / 1e6).toFixed(1)} M parameters, ` +
            `${(model.fileSize / 1e6).toFixed(1)} MB, seed ${model.seed}, in ${((performance.now() - started) / 1000).toFixed(1)} s`
        );
        console.log("random weights: for speed benchmarks (sparq bench), not for text quality");
    }
};

export const modelsCommand: CommandModule<object, object> = {
    command: "models",
    describe: "Model utilities: synth writes random-weight GGUF models of real shapes for benchmarks",
    builder: (yargs: Argv) => yargs
        .command(synthCommand)
        .demandCommand(1, "name a models command: sparq models synth --help"),
    handler: () => {}
};
