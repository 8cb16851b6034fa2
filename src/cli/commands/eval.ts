import type {Argv, CommandModule} from "yargs";
import {evalNeedle, evalPerplexity, evalQa, evalRepeat, type EvalCommonOptions} from "../../eval/command.js";
import {parseSettingsList} from "../../eval/settings-list.js";
import {chooseModel, resolveModel} from "../../models/resolve.js";
import {createBuildProgressPrinter} from "../progress.js";

type CommonArgs = {model?: string, settings: string, layers?: string, meanRealloc: boolean, threads?: number, out?: string, name?: string, quiet: boolean};

const defaultSettings = "dense,ratio:2,ratio:4,ratio:8,ratio:16";

function commonOptions<T>(yargs: Argv<T>) {
    return yargs
        .option("model", {alias: "m", type: "string", describe: "GGUF path or hf: URI (else SPARQ_MODEL)"})
        .option("settings", {alias: "s", type: "string", default: defaultSettings,
            describe: "Comma-separated settings: dense, ratio:C, rRkK[lL], each optionally with /no-realloc, /realloc, /kmin=N, /per-head"})
        .option("layers", {type: "string", describe: "Layers that use SparQ in every SparQ setting (e.g. 2-, 0-3,8); default all"})
        .option("meanRealloc", {type: "boolean", default: true, describe: "Mean-value reallocation in SparQ settings (--no-mean-realloc: off; /realloc in an item overrides)"})
        .option("threads", {type: "number", describe: "CPU threads"})
        .option("out", {type: "string", describe: "Folder of the JSON, Markdown and plot (default bench/results/eval-<model>)"})
        .option("name", {type: "string", describe: "File name stem of the report (default: the task)"})
        .option("quiet", {alias: "q", type: "boolean", default: false, describe: "No progress lines on stderr"})
        .check((args) => {
            if (args.threads != null && (!Number.isInteger(args.threads) || args.threads < 1))
                throw new Error(`--threads must be a positive integer, got ${args.threads}`);
            parseSettingsList(args.settings, {layers: args.layers, meanRealloc: args.meanRealloc});
            return true;
        });
}

async function common(args: CommonArgs): Promise<EvalCommonOptions> {
    return {
        modelPath: await resolveModel(chooseModel(args.model)),
        settings: parseSettingsList(args.settings, {layers: args.layers, meanRealloc: args.meanRealloc}),
        threads: args.threads,
        outDir: args.out,
        name: args.name,
        command: ["sparq", ...process.argv.slice(2)].join(" "),
        onBuildProgress: createBuildProgressPrinter(),
        log: args.quiet ? undefined : (line) => process.stderr.write(`  ${line}\n`)
    };
}

/** A token count: an integer or a number with a k suffix (x1024). */
function tokenCount(text: string, flag: string): number {
    const match = /^\s*(\d+(?:\.\d+)?)([kK]?)\s*$/.exec(text);
    const value = match == null ? NaN : Number(match[1]) * (match[2] === "" ? 1 : 1024);
    if (!Number.isSafeInteger(value) || value < 1)
        throw new Error(`${flag}: "${text}" is not a token count (e.g. 512, 2k)`);
    return value;
}

function list<T>(text: string, flag: string, parse: (part: string) => T): T[] {
    const parts = text.split(",").map((p) => p.trim());
    if (parts.some((p) => p === ""))
        throw new Error(`${flag} "${text}" has an empty item`);
    const values = parts.map(parse);
    const repeated = values.find((v, i) => values.indexOf(v) !== i);
    if (repeated !== undefined)
        throw new Error(`${flag} "${text}" names ${repeated} twice`);
    return values;
}

const parseDepth = (part: string) => {
    const value = /^\d*\.?\d+$/.test(part) ? Number(part) : NaN;
    if (!(value >= 0 && value <= 1))
        throw new Error(`--depths: "${part}" is not a number in [0, 1]`);
    return value;
};

function positiveInteger(value: number | undefined, flag: string): void {
    if (value != null && (!Number.isInteger(value) || value < 1))
        throw new Error(`${flag} must be a positive integer, got ${value}`);
}

const vocabSafeDescription = "Replace characters that no vocabulary piece holds by spaces first " +
    "(for vocabularies without full byte fallback, e.g. TinyStories-656K's, whose tokenizer aborts on them)";

type PerplexityArgs = CommonArgs & {text: string, ctx: string, prefill: number, windows: number, stride?: number, timeBudget?: number, vocabSafe: boolean};
type NeedleArgs = CommonArgs & {ctx: string, depths: string, trials: number, fillerText?: string, seed: number};
type QaArgs = CommonArgs & {data: string, questions: number, longContext?: string, seed: number};
type RepeatArgs = CommonArgs & {text: string, samples: number, passage: number, cue: number, tokens: number, offset: number, vocabSafe: boolean};

const perplexityCommand: CommandModule<object, PerplexityArgs> = {
    command: "perplexity",
    describe: "Perplexity over sliding windows: dense prefill, then every remaining token scored by a decode step",
    builder: (yargs) => commonOptions(yargs)
        .option("text", {type: "string", demandOption: true, describe: "Text file to score"})
        .option("ctx", {type: "string", default: "2048", describe: "Window length N in tokens (BOS included)"})
        .option("prefill", {type: "number", default: 512, describe: "Tokens of each window prefilled densely; the other N - P are scored"})
        .option("windows", {type: "number", default: 1, describe: "Windows to run at most"})
        .option("stride", {type: "number", describe: "Tokens between window starts (default N)"})
        .option("timeBudget", {type: "number", describe: "Seconds after which no new window starts"})
        .option("vocabSafe", {type: "boolean", default: false, describe: vocabSafeDescription})
        .check((args) => {
            tokenCount(args.ctx, "--ctx");
            positiveInteger(args.prefill, "--prefill");
            positiveInteger(args.windows, "--windows");
            positiveInteger(args.stride, "--stride");
            if (args.timeBudget != null && !(args.timeBudget > 0))
                throw new Error(`--time-budget must be a positive number of seconds, got ${args.timeBudget}`);
            return true;
        })
        .example("$0 eval perplexity -m ../shared/models/gutenberg-llama-57m-d128-q8_0.gguf --text ../shared/data/wikitext-2-raw-test.txt " +
            "--ctx 2048 --prefill 512 --windows 4 --settings dense,ratio:8,ratio:8/no-realloc", "dense against SparQ 8x, reallocation on and off"),
    handler: async (args) => {
        await evalPerplexity(await common(args), {
            textFile: args.text, contextSize: tokenCount(args.ctx, "--ctx"), prefill: args.prefill, windows: args.windows,
            stride: args.stride, timeBudgetSeconds: args.timeBudget, restrictToVocabulary: args.vocabSafe
        });
    }
};

const needleCommand: CommandModule<object, NeedleArgs> = {
    command: "needle",
    describe: "Pass-key retrieval at several context lengths and needle depths (greedy answers)",
    builder: (yargs) => commonOptions(yargs)
        .option("ctx", {type: "string", default: "512,1024,2048", describe: "Context lengths (prompt + answer), comma-separated"})
        .option("depths", {type: "string", default: "0,0.25,0.5,0.75,1", describe: "Needle depths in [0, 1], comma-separated"})
        .option("trials", {alias: "t", type: "number", default: 3, describe: "Prompts (keys) per context length and depth"})
        .option("fillerText", {type: "string", describe: "Use this text's sentences as filler (default: the \"grass is green\" filler)"})
        .option("seed", {type: "number", default: 1234, describe: "Seed of the pass keys"})
        .check((args) => {
            list(args.ctx, "--ctx", (p) => tokenCount(p, "--ctx"));
            list(args.depths, "--depths", parseDepth);
            positiveInteger(args.trials, "--trials");
            return true;
        })
        .example("$0 eval needle -m ../shared/models/gutenberg-llama-57m-d128-q8_0.gguf --ctx 512,1k,2k --settings dense,ratio:4,ratio:8", "pass key, dense against 4x and 8x"),
    handler: async (args) => {
        await evalNeedle(await common(args), {
            contextSizes: list(args.ctx, "--ctx", (p) => tokenCount(p, "--ctx")),
            depths: list(args.depths, "--depths", parseDepth),
            trials: args.trials, fillerFile: args.fillerText, seed: args.seed
        });
    }
};

const qaCommand: CommandModule<object, QaArgs> = {
    command: "qa",
    describe: "1-shot extractive QA on a SQuAD v1.1 file: exact match and F1",
    builder: (yargs) => commonOptions(yargs)
        .option("data", {type: "string", demandOption: true, describe: "SQuAD v1.1 JSON file (e.g. dev-v1.1.json)"})
        .option("questions", {type: "number", default: 50, describe: "Questions to score at most"})
        .option("longContext", {type: "string", describe: "Pad each paragraph with other paragraphs to this many tokens"})
        .option("seed", {type: "number", default: 1234, describe: "Seed of the padding order"})
        .check((args) => {
            positiveInteger(args.questions, "--questions");
            if (args.longContext != null)
                tokenCount(args.longContext, "--long-context");
            return true;
        })
        .example("$0 eval qa -m model.gguf --data dev-v1.1.json --questions 200 --long-context 2k", "SQuAD padded to 2k tokens"),
    handler: async (args) => {
        await evalQa(await common(args), {
            dataFile: args.data, questions: args.questions, seed: args.seed,
            longContext: args.longContext != null ? tokenCount(args.longContext, "--long-context") : undefined
        });
    }
};

const repeatCommand: CommandModule<object, RepeatArgs> = {
    command: "repeat",
    describe: "Text repetition: read a passage, repeat it from a cue; score the exact-match length",
    builder: (yargs) => commonOptions(yargs)
        .option("text", {type: "string", demandOption: true, describe: "Text file the passages are cut from"})
        .option("samples", {type: "number", default: 8, describe: "Passages (consecutive slices of the text)"})
        .option("passage", {type: "number", default: 1024, describe: "Passage length in tokens"})
        .option("cue", {type: "number", default: 8, describe: "Tokens of the passage shown again as the cue"})
        .option("tokens", {alias: "n", type: "number", default: 64, describe: "Tokens to generate at most"})
        .option("offset", {type: "number", default: 0, describe: "Tokens of the text to skip first"})
        .option("vocabSafe", {type: "boolean", default: false, describe: vocabSafeDescription})
        .check((args) => {
            positiveInteger(args.samples, "--samples");
            positiveInteger(args.passage, "--passage");
            positiveInteger(args.cue, "--cue");
            positiveInteger(args.tokens, "--tokens");
            if (!Number.isInteger(args.offset) || args.offset < 0)
                throw new Error(`--offset must be an integer >= 0, got ${args.offset}`);
            return true;
        })
        .example("$0 eval repeat -m ../shared/models/gutenberg-llama-57m-d128-q8_0.gguf --text ../shared/data/wikitext-2-raw-test.txt --passage 1024",
            "repetition of WikiText passages"),
    handler: async (args) => {
        await evalRepeat(await common(args), {
            textFile: args.text, samples: args.samples, passageTokens: args.passage, cueTokens: args.cue, maxTokens: args.tokens, offset: args.offset,
            restrictToVocabulary: args.vocabSafe
        });
    }
};

export const evalCommand: CommandModule = {
    command: "eval",
    describe: "Accuracy of SparQ settings against dense attention: perplexity, needle, qa, repeat",
    builder: (yargs) => yargs
        .command(perplexityCommand)
        .command(needleCommand)
        .command(qaCommand)
        .command(repeatCommand)
        .demandCommand(1, "name a task: sparq eval perplexity|needle|qa|repeat --help"),
    handler: () => {}
};
