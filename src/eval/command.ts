/**
 * The `sparq eval` tasks end to end: load the model through the SparQ build, run the task for every
 * setting, print the tables and write the JSON, Markdown and plot.
 */
import path from "node:path";
import type {Llama, LlamaModel} from "node-llama-cpp";
import type {BuildProgress} from "../build/compile.js";
import {findCachedBuild} from "../build/compile.js";
import {getSparqLlama, getSparqVersion} from "../load.js";
import {getModelAttentionShape} from "../sparq/context.js";
import {readSquad, readTextFile} from "./data.js";
import {grassFiller, needlePlot, needleTables, runNeedle} from "./needle.js";
import {perplexityPlot, perplexityTable, perplexityWindowTable, runPerplexity} from "./perplexity.js";
import {qaPlot, qaTable, runQa} from "./qa.js";
import {repeatPlot, repeatTable, runRepeat} from "./repeat.js";
import {formatTable, machineInfo, writeEvalReport, type EvalPlot, type EvalReport, type EvalTable} from "./report.js";
import type {EvalSetting} from "./settings-list.js";

export type EvalCommonOptions = {
    modelPath: string,
    settings: EvalSetting[],
    threads?: number,
    /** Folder of the report files (default bench/results/eval-<model file name>). */
    outDir?: string,
    /** File name stem of the report (default: the task). */
    name?: string,
    /** The command line, recorded in the report. */
    command: string,
    /** An already loaded Llama (tests); else getSparqLlama() is called and disposed. */
    llama?: Llama,
    onBuildProgress?: (progress: BuildProgress) => void,
    /** Progress lines (default: none). */
    log?: (line: string) => void,
    /** Where the tables go (default: stdout). */
    print?: (text: string) => void
};

type TaskOutput = {title: string, notes: string[], tables: EvalTable[], plot: EvalPlot, results: unknown};

export type EvalOutcome = {report: EvalReport, files: string[]};

const modelStem = (modelPath: string) => path.basename(modelPath).replace(/\.gguf$/i, "");

async function runTask(task: string, common: EvalCommonOptions, run: (model: LlamaModel, name: string) => Promise<TaskOutput>): Promise<EvalOutcome> {
    const print = common.print ?? ((text: string) => process.stdout.write(text + "\n"));
    const startedAt = new Date();
    const started = performance.now();
    const llama = common.llama ?? await getSparqLlama({onBuildProgress: common.onBuildProgress});
    try {
        const model = await llama.loadModel({modelPath: common.modelPath});
        try {
            const shape = getModelAttentionShape(model);
            const output = await run(model, modelStem(common.modelPath));
            const report: EvalReport = {
                task,
                title: output.title,
                command: common.command,
                model: {path: common.modelPath, layerCount: shape.layerCount, headDim: shape.headDim, trainContextSize: model.trainContextSize},
                notes: output.notes,
                startedAt: startedAt.toISOString(),
                wallSeconds: (performance.now() - started) / 1000,
                machine: machineInfo(common.threads ?? null),
                build: {key: (await findCachedBuild({gpu: false}))?.key ?? null, sparqVersion: getSparqVersion(llama)},
                tables: output.tables,
                plot: output.plot,
                results: output.results
            };
            const outDir = common.outDir ?? path.join("bench", "results", `eval-${modelStem(common.modelPath)}`);
            const files = await writeEvalReport(outDir, common.name ?? task, report);
            print(`${report.title}\n`);
            for (const note of report.notes)
                print(`- ${note}`);
            for (const table of report.tables)
                print(`\n${formatTable(table)}`);
            print(`\nwall time ${report.wallSeconds.toFixed(1)} s; wrote ${files.join(", ")}`);
            return {report, files};
        } finally {
            await model.dispose();
        }
    } finally {
        if (common.llama == null)
            await llama.dispose();
    }
}

const describeSettings = (settings: readonly EvalSetting[]) => {
    const layers = settings.flatMap((s) => s.sparq !== false && s.sparq.layers !== undefined ? [String(s.sparq.layers)] : []);
    return `settings: ${settings.map((s) => s.label).join(", ")}; SparQ layers: ${layers.length > 0 ? layers[0] : "all"}`;
};

export async function evalPerplexity(common: EvalCommonOptions, options: {
    textFile: string, contextSize: number, prefill: number, windows: number, stride?: number, timeBudgetSeconds?: number,
    restrictToVocabulary?: boolean
}): Promise<EvalOutcome> {
    const text = await readTextFile(options.textFile);
    return runTask("perplexity", common, async (model, name) => {
        const result = await runPerplexity(model, common.settings, {...options, text, threads: common.threads, log: common.log});
        const first = result.settings[0]!;
        return {
            title: `Perplexity, ${name}, ${path.basename(options.textFile)}: windows of ${result.contextSize} tokens, ` +
                `dense prefill ${result.prefill}, ${result.contextSize - result.prefill} tokens scored per window by decode steps`,
            notes: [
                describeSettings(common.settings),
                `${result.windowsRun} window(s) at stride ${result.stride}, ${first.scoredTokens} scored tokens per setting` +
                    (result.stoppedBecause != null ? ` (stopped early: ${result.stoppedBecause})` : ""),
                ...(options.restrictToVocabulary ? [`${result.charactersReplaced} characters of the text that no vocabulary piece holds were replaced by spaces`] : []),
                "attn transfer: mean over decode steps of the fraction of dense attention bytes moved, from the r and k " +
                    "llama.cpp resolves at each step's KV length and the positions it attends over (dense layers count 1); " +
                    "bytes-weighted: the same weighted by KV length",
                "top-1 = dense: positions whose most likely next token equals dense attention's",
                "* 95% interval of the PPL change from the paired per-token NLL differences, tokens taken as independent: " +
                    "neighbouring tokens are correlated, so the true interval is wider; the per-window table shows the spread"
            ],
            tables: [perplexityTable(result), perplexityWindowTable(result)],
            plot: perplexityPlot(result, name),
            results: result
        };
    });
}

export async function evalNeedle(common: EvalCommonOptions, options: {
    contextSizes: number[], depths: number[], trials: number, fillerFile?: string, seed?: number
}): Promise<EvalOutcome> {
    let filler: string[] | undefined;
    if (options.fillerFile != null) {
        // sentences of a text, in order
        filler = (await readTextFile(options.fillerFile)).split(/(?<=[.!?])\s+/).map((s) => s.replace(/\s+/g, " ").trim())
            .filter((s) => s.length > 0 && !/pass key/i.test(s));
        if (filler.length === 0)
            throw new Error(`${options.fillerFile} has no sentences to use as filler`);
    }
    return runTask("needle", common, async (model, name) => {
        const result = await runNeedle(model, common.settings, {...options, filler, threads: common.threads, log: common.log});
        return {
            title: `Pass-key retrieval, ${name}: contexts ${result.contextSizes.join(", ")}, depths ${result.depths.join(", ")}, ` +
                `${result.trials} trials per cell`,
            notes: [
                describeSettings(common.settings),
                `filler: ${options.fillerFile != null ? `sentences of ${options.fillerFile}` : `"${grassFiller.join(" ")}" repeated`}; ` +
                    "needle \"The pass key is N. Remember it. N is the pass key.\"; question \"\\n\\nWhat is the pass key? The pass key is\"",
                "filler and needle prefilled densely (once per prompt, shared by the settings); the question is fed one decode step " +
                    "per token and the answer generated greedily; correct when the answer's first number is the key",
                `dense prefill time, all prompts: ${result.prefillSeconds.toFixed(1)} s`
            ],
            tables: needleTables(result),
            plot: needlePlot(result, name),
            results: result
        };
    });
}

export async function evalQa(common: EvalCommonOptions, options: {
    dataFile: string, questions: number, longContext?: number, seed?: number
}): Promise<EvalOutcome> {
    const paragraphs = await readSquad(options.dataFile);
    return runTask("qa", common, async (model, name) => {
        const result = await runQa(model, common.settings, paragraphs, {...options, threads: common.threads, log: common.log});
        return {
            title: `SQuAD-format 1-shot QA, ${name}, ${path.basename(options.dataFile)}` +
                (result.longContext != null ? `, paragraphs padded to ${result.longContext} tokens` : ""),
            notes: [
                describeSettings(common.settings),
                `${result.questionsScored} question(s) scored, ${result.questionsSkipped} skipped (prompt too long); mean prompt ` +
                    `${result.meanPromptTokens.toFixed(0)} tokens; worked example: ${JSON.stringify(result.example.question)} -> ${JSON.stringify(result.example.answer)}`,
                "EM and F1 with SQuAD v1.1 normalisation, best over the gold answers, in %",
                "paragraphs prefilled densely; question fed one decode step per token; answer generated greedily up to a newline",
                `dense prefill time, all prompts: ${result.prefillSeconds.toFixed(1)} s`
            ],
            tables: [qaTable(result)],
            plot: qaPlot(result, name),
            results: result
        };
    });
}

export async function evalRepeat(common: EvalCommonOptions, options: {
    textFile: string, samples: number, passageTokens: number, cueTokens?: number, maxTokens?: number, offset?: number,
    restrictToVocabulary?: boolean
}): Promise<EvalOutcome> {
    const text = await readTextFile(options.textFile);
    return runTask("repeat", common, async (model, name) => {
        const result = await runRepeat(model, common.settings, {...options, text, threads: common.threads, log: common.log});
        const maxChars = result.maxChars.reduce((a, b) => a + b, 0) / result.maxChars.length;
        return {
            title: `Text repetition, ${name}, ${path.basename(options.textFile)}: ${result.samples.length} passages of ${result.passageTokens} tokens`,
            notes: [
                describeSettings(common.settings),
                `prompt: the passage (prefilled densely), "\\n\\n" and its first ${result.cueTokens} tokens again (decode steps); ` +
                    `up to ${result.maxTokens} tokens generated greedily, stopped at the first wrong token`,
                `score: length of the exact match with the passage's continuation (at most ${maxChars.toFixed(0)} chars on average)`,
                `dense prefill time, all passages: ${result.prefillSeconds.toFixed(1)} s`,
                ...(options.restrictToVocabulary ? ["characters of the text that no vocabulary piece holds were replaced by spaces"] : [])
            ],
            tables: [repeatTable(result)],
            plot: repeatPlot(result, name),
            results: result
        };
    });
}
