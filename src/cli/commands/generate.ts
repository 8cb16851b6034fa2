import type {CommandModule} from "yargs";
import {parseGpuBackend} from "../../build/toolchain.js";
import {parseSparqSpec, parseTokenCount} from "../../bench/options.js";
import {formatSparqSummary, generate} from "../../generate.js";
import {getSparqLlama} from "../../load.js";
import {chooseModel, defaultModelUri, resolveModel} from "../../models/resolve.js";
import {denseBelowDefaultHelp} from "../options.js";
import {createBuildProgressPrinter} from "../progress.js";

type GenerateArgs = {
    model?: string, prompt: string, tokens: number, temperature: number, ctx?: number, threads?: number, gpu: string,
    sparq?: string, layers?: string, denseBelow?: string
};

export const generateCommand: CommandModule<object, GenerateArgs> = {
    command: "generate",
    describe: "Stream a completion of a prompt and print tokens/sec",
    builder: (yargs) => yargs
        .option("model", {alias: "m", type: "string", describe: `GGUF path or hf: URI (else SPARQ_MODEL, else ${defaultModelUri})`})
        .option("prompt", {alias: "p", type: "string", default: "Once upon a time", describe: "Text to complete"})
        .option("tokens", {alias: "n", type: "number", default: 64, describe: "Tokens to generate at most"})
        .option("temperature", {type: "number", default: 0, describe: "Sampling temperature; 0 is greedy"})
        .option("ctx", {type: "number", describe: "Context size (default: the model's, capped to what fits)"})
        .option("threads", {type: "number", describe: "CPU threads"})
        .option("gpu", {type: "string", default: "cpu", describe: "Backend: cpu or cuda"})
        .option("sparq", {type: "string", describe: "SparQ Attention in decode steps: a ratio (8: r = d/8, k = max(32, S/16)) or r,k (16,256)"})
        .option("layers", {type: "string", describe: "With --sparq: the layers that use it, e.g. 2- or 0-3,8 (default all)"})
        .option("dense-below", {
            type: "string",
            describe: `With --sparq: dense attention at KV lengths below this, e.g. 0 or 32k (${denseBelowDefaultHelp})`
        })
        .check((args) => {
            if (!Number.isInteger(args.tokens) || args.tokens < 1)
                throw new Error(`--tokens must be a positive integer, got ${args.tokens}`);
            if (!(args.temperature >= 0))
                throw new Error(`--temperature must be >= 0, got ${args.temperature}`);
            if (args.ctx != null && (!Number.isInteger(args.ctx) || args.ctx < 16))
                throw new Error(`--ctx must be an integer >= 16, got ${args.ctx}`);
            if (args.threads != null && (!Number.isInteger(args.threads) || args.threads < 1))
                throw new Error(`--threads must be a positive integer, got ${args.threads}`);
            parseGpuBackend(args.gpu);
            if (args.sparq != null)
                parseSparqSpec(args.sparq, "--sparq", args.layers);
            else if (args.layers != null)
                throw new Error("--layers chooses the layers of --sparq: give --sparq too");
            else if (args.denseBelow != null)
                throw new Error("--dense-below applies to --sparq: give --sparq too");
            if (args.denseBelow != null)
                parseTokenCount(String(args.denseBelow), "--dense-below", 0);
            return true;
        })
        .example("$0 generate -m ../shared/models/stories260K-f32.gguf -p 'Once upon a time'", "greedy completion of a local model")
        .example("$0 generate -m model.gguf --sparq 8 --layers 2-", "SparQ at 1/8 of the attention bytes, the first two layers dense")
        .example("$0 generate -m model.gguf --sparq 16,128", "SparQ with r = 16 query components and the top k = 128 positions")
        .example("$0 generate -m model.gguf --gpu cuda --sparq 8 --dense-below 0", "SparQ on the GPU at every context length"),
    handler: async (args) => {
        const sparq = args.sparq == null ? undefined : {
            ...parseSparqSpec(args.sparq, "--sparq", args.layers),
            ...(args.denseBelow == null ? {} : {denseBelow: parseTokenCount(args.denseBelow, "--dense-below", 0)})
        };
        const modelPath = await resolveModel(chooseModel(args.model));
        const llama = await getSparqLlama({gpu: parseGpuBackend(args.gpu), onBuildProgress: createBuildProgressPrinter()});
        try {
            process.stdout.write(args.prompt);
            const result = await generate(llama, {
                modelPath, prompt: args.prompt, maxTokens: args.tokens, temperature: args.temperature,
                contextSize: args.ctx, threads: args.threads, sparq,
                onText: (text) => process.stdout.write(text)
            });
            process.stdout.write("\n");
            console.error(
                `\n${result.tokens.length} tokens, ${result.tokensPerSecond.toFixed(1)} tokens/s ` +
                `(prompt ${result.promptTokens} tokens, ${result.seconds.toFixed(2)} s total); ` +
                (result.sparq == null ? "SparQ: off" : formatSparqSummary(result.sparq))
            );
        } finally {
            await llama.dispose();
        }
    }
};
