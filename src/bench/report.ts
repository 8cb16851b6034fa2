/**
 * What `sparq bench` writes: the result as JSON (schema: {@link BenchResult}, checked by
 * {@link validateBenchResult}), a llama-bench-like markdown table, and an SVG plot of generation
 * speed against context length per mode (Vega-Lite, rendered in Node without a browser).
 */
import fs from "node:fs/promises";
import path from "node:path";
import type {SparqSettings} from "../sparq/settings.js";
import type {SparqLayerInfo} from "../sparq/context.js";

export const benchSchemaVersion = 1;

/** Mean and sample standard deviation of tokens/sec over the rounds (sd null with one round). */
export type BenchStats = {
    mean: number,
    sd: number | null,
    /** One value per round, in round order. */
    perRound: number[]
};

/** One layer of a SparQ mode: r, k, l at the mean KV view length; opCount counts the timed steps (all rounds). */
export type BenchSparqLayer = Omit<SparqLayerInfo, "runsOp">;

/** One (context depth, mode) measurement. */
export type BenchRow = {
    /** Tokens in the cache before generation starts. */
    ctx: number,
    /** `dense`, `sparq:8`, `sparq:16,256`. */
    mode: string,
    /** The SparQ settings of the mode; null for dense. */
    sparq: SparqSettings | null,
    /** Sequences decoded together (1). */
    batch: number,
    /** Filling the cache to `ctx` tokens (dense, batched; one fill shared by every mode at this depth). */
    prefill: {tokens: number, seconds: number, tokensPerSecond: number},
    /** Generation of `tokens` tokens from depth `ctx`, one decode step per token. */
    generation: {tokens: number, tokensPerSecond: BenchStats},
    /** mean tokens/sec over dense's mean at the same depth; null without a dense mode. */
    speedupVsDense: number | null,
    /** Bytes of K and V read per generated token, averaged over the generated tokens. */
    attention: {meanPositions: number, denseBytesPerToken: number, bytesPerToken: number},
    /** (W + A_dense) / (W + A_mode), W = {@link BenchResult.model}.weightBytesPerToken. */
    idealSpeedup: number,
    /** speedupVsDense / idealSpeedup (1 = the bandwidth bound reached); null without a dense mode. */
    fractionOfIdeal: number | null,
    /** Proof that SparQ ran: per-layer op counts over the timed steps; null for dense (where every count stayed 0). */
    sparqOps: null | {decodeSteps: number, layers: BenchSparqLayer[]}
};

/** Everything `sparq bench` measured, as written to bench.json. */
export type BenchResult = {
    schemaVersion: typeof benchSchemaVersion,
    /** ISO time the run started. */
    createdAt: string,
    model: {
        path: string,
        /** File name without .gguf. */
        name: string,
        fileSize: number,
        /** GGUF general.architecture. */
        architecture: string,
        layerCount: number,
        headCount: number,
        kvHeadCount: number,
        headDim: number,
        trainContextSize: number,
        /** W: weight bytes read per generated token (see weightBytesPerToken in bytes.ts). */
        weightBytesPerToken: number
    },
    system: {
        /** "cpu" or "cuda". */
        backend: string,
        threads: number,
        /** SparQ patch-series version of the loaded build. */
        sparqVersion: string,
        /** llama.cpp release the build is pinned to. */
        llamaCpp: string,
        cpu: string,
        cpuCount: number,
        /** os.loadavg() before and after the run: 1, 5 and 15 minute averages. */
        loadAverage: {before: number[], after: number[]},
        node: string
    },
    settings: {
        contexts: number[],
        modes: string[],
        batch: number,
        repeat: number,
        /** Tokens generated per timed run. */
        tokens: number,
        /** Untimed tokens generated per mode and depth before the rounds. */
        warmupTokens: number,
        /** Untimed decode steps of every run before its timed ones (absent in reports of earlier versions: none). */
        settleSteps?: number,
        /** Seed of the token stream. */
        seed: number,
        kvType: string,
        flashAttention: boolean,
        /** --layers, when given. */
        layers: string | null
    },
    /** One row per (ctx, mode), depths in the order given, modes in the order given. */
    results: BenchRow[]
};

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/** Thrown by {@link validateBenchResult}, naming the JSON path of the first problem. */
export class BenchSchemaError extends Error {}

type Check = (value: unknown, where: string) => void;

const fail = (where: string, what: string): never => {
    throw new BenchSchemaError(`${where}: ${what}`);
};
const show = (value: unknown) => JSON.stringify(value) ?? String(value);
const num: Check = (v, w) => {
    if (typeof v !== "number" || !Number.isFinite(v))
        fail(w, `expected a finite number, got ${show(v)}`);
};
const nonNegative: Check = (v, w) => {
    num(v, w);
    if ((v as number) < 0)
        fail(w, `expected a number >= 0, got ${show(v)}`);
};
const positive: Check = (v, w) => {
    num(v, w);
    if (!((v as number) > 0))
        fail(w, `expected a number > 0, got ${show(v)}`);
};
const int: Check = (v, w) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0)
        fail(w, `expected an integer >= 0, got ${show(v)}`);
};
const posInt: Check = (v, w) => {
    if (!Number.isSafeInteger(v) || (v as number) < 1)
        fail(w, `expected an integer >= 1, got ${show(v)}`);
};
const str: Check = (v, w) => {
    if (typeof v !== "string")
        fail(w, `expected a string, got ${show(v)}`);
};
const bool: Check = (v, w) => {
    if (typeof v !== "boolean")
        fail(w, `expected a boolean, got ${show(v)}`);
};
const nullable = (check: Check): Check => (v, w) => {
    if (v !== null)
        check(v, w);
};
const optional = (check: Check): Check => (v, w) => {
    if (v !== undefined)
        check(v, w);
};
const arrayOf = (check: Check, length?: number): Check => (v, w) => {
    if (!Array.isArray(v))
        return fail(w, `expected an array, got ${show(v)}`);
    if (length !== undefined && v.length !== length)
        fail(w, `expected ${length} items, got ${v.length}`);
    v.forEach((item, i) => check(item, `${w}[${i}]`));
};
const object = (fields: Record<string, Check>, {open = false} = {}): Check => (v, w) => {
    if (typeof v !== "object" || v === null || Array.isArray(v))
        return fail(w, `expected an object, got ${show(v)}`);
    for (const [key, check] of Object.entries(fields))
        check((v as Record<string, unknown>)[key], `${w}.${key}`);
    if (!open) {
        const extra = Object.keys(v).filter((key) => !Object.hasOwn(fields, key));
        if (extra.length > 0)
            fail(w, `unexpected field ${extra.join(", ")}`);
    }
};

const statsCheck = object({mean: positive, sd: nullable(nonNegative), perRound: arrayOf(positive)});
const rowCheck = object({
    ctx: posInt,
    mode: str,
    // SparqSettings is the library's type: checked for being an object; its fields are checked when applied
    sparq: nullable(object({}, {open: true})),
    batch: posInt,
    prefill: object({tokens: posInt, seconds: positive, tokensPerSecond: positive}),
    generation: object({tokens: posInt, tokensPerSecond: statsCheck}),
    speedupVsDense: nullable(positive),
    attention: object({meanPositions: positive, denseBytesPerToken: positive, bytesPerToken: positive}),
    idealSpeedup: positive,
    fractionOfIdeal: nullable(positive),
    sparqOps: nullable(object({
        decodeSteps: int,
        layers: arrayOf(object({
            layer: int, enabled: bool, r: optional(posInt), k: optional(posInt), l: optional(int), opCount: int
        }))
    }))
});
const resultCheck = object({
    schemaVersion: (v, w) => {
        if (v !== benchSchemaVersion)
            fail(w, `expected ${benchSchemaVersion}, got ${show(v)}`);
    },
    createdAt: (v, w) => {
        str(v, w);
        if (Number.isNaN(Date.parse(v as string)))
            fail(w, `expected an ISO date, got ${show(v)}`);
    },
    model: object({
        path: str, name: str, fileSize: posInt, architecture: str, layerCount: posInt, headCount: posInt,
        kvHeadCount: posInt, headDim: posInt, trainContextSize: posInt, weightBytesPerToken: posInt
    }),
    system: object({
        backend: str, threads: posInt, sparqVersion: str, llamaCpp: str, cpu: str, cpuCount: posInt,
        loadAverage: object({before: arrayOf(nonNegative, 3), after: arrayOf(nonNegative, 3)}), node: str
    }),
    settings: object({
        contexts: arrayOf(posInt), modes: arrayOf(str), batch: posInt, repeat: posInt, tokens: posInt,
        warmupTokens: int, settleSteps: optional(int), seed: int, kvType: str, flashAttention: bool, layers: nullable(str)
    }),
    results: arrayOf(rowCheck)
});

/**
 * Checks that `value` is a {@link BenchResult}: every field with its type and range, no unknown
 * fields, and the rows consistent with the settings (one per depth and mode, one value per round,
 * op counts present for SparQ modes only, layer counts matching the model).
 * @throws BenchSchemaError naming the first offending path
 */
export function validateBenchResult(value: unknown): BenchResult {
    resultCheck(value, "$");
    const result = value as BenchResult;
    const {settings, model} = result;
    const expected = settings.contexts.flatMap((ctx) => settings.modes.map((mode) => `${ctx} ${mode}`));
    const actual = result.results.map((row) => `${row.ctx} ${row.mode}`);
    if (show(actual) !== show(expected))
        fail("$.results", `expected one row per depth and mode (${expected.join(", ")}), got ${actual.join(", ")}`);
    result.results.forEach((row, i) => {
        const where = `$.results[${i}]`;
        if (row.generation.tokensPerSecond.perRound.length !== settings.repeat)
            fail(`${where}.generation.tokensPerSecond.perRound`, `expected ${settings.repeat} rounds, got ${row.generation.tokensPerSecond.perRound.length}`);
        if ((row.sparq == null) !== (row.mode === "dense"))
            fail(`${where}.sparq`, `must be null exactly when the mode is dense (mode ${row.mode})`);
        if ((row.sparqOps == null) !== (row.sparq == null))
            fail(`${where}.sparqOps`, `must be present exactly for SparQ modes (mode ${row.mode})`);
        if (row.sparqOps != null && row.sparqOps.layers.length !== model.layerCount)
            fail(`${where}.sparqOps.layers`, `expected ${model.layerCount} layers, got ${row.sparqOps.layers.length}`);
    });
    return result;
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

function formatMegabytes(bytes: number): string {
    const mb = bytes / 1e6;
    return mb >= 100 ? mb.toFixed(1) : mb >= 1 ? mb.toFixed(2) : mb.toPrecision(3);
}

function formatStats(stats: BenchStats): string {
    return stats.sd == null ? stats.mean.toFixed(2) : `${stats.mean.toFixed(2)} ± ${stats.sd.toFixed(2)}`;
}

/** The rows as a llama-bench-like markdown table. */
export function formatBenchTable(result: BenchResult): string {
    const header = ["model", "backend", "threads", "ctx", "mode", "pp t/s", "tg t/s", "speed-up", "attn MB/tok", "ideal", "% of ideal"];
    const right = new Set(["threads", "ctx", "pp t/s", "tg t/s", "speed-up", "attn MB/tok", "ideal", "% of ideal"]);
    const lines = [
        `| ${header.join(" | ")} |`,
        `| ${header.map((name) => (right.has(name) ? "---:" : "---")).join(" | ")} |`
    ];
    for (const row of result.results) {
        lines.push(`| ${[
            result.model.name,
            result.system.backend,
            String(result.system.threads),
            String(row.ctx),
            row.mode,
            row.prefill.tokensPerSecond.toFixed(1),
            formatStats(row.generation.tokensPerSecond),
            row.speedupVsDense == null ? "—" : `${row.speedupVsDense.toFixed(2)}x`,
            formatMegabytes(row.attention.bytesPerToken),
            `${row.idealSpeedup.toFixed(2)}x`,
            row.fractionOfIdeal == null ? "—" : `${(row.fractionOfIdeal * 100).toFixed(0)}%`
        ].join(" | ")} |`);
    }
    return lines.join("\n");
}

/** bench.md: what was run, the table, and what the columns mean. */
export function formatBenchMarkdown(result: BenchResult): string {
    const {model, system, settings} = result;
    const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(", ");
    return [
        `# sparq bench: ${model.name}`,
        "",
        `${result.createdAt} · ${system.cpu} (${system.cpuCount} CPUs) · backend ${system.backend}, ${system.threads} threads · ` +
            `llama.cpp ${system.llamaCpp} + SparQ v${system.sparqVersion} · node ${system.node}`,
        "",
        `Model: \`${model.path}\` (${model.architecture}, ${model.layerCount} layers, ${model.headCount}/${model.kvHeadCount} heads, d = ${model.headDim}, ` +
            `${formatMegabytes(model.fileSize)} MB; W = ${formatMegabytes(model.weightBytesPerToken)} MB of weights read per token).`,
        `Generation: ${settings.tokens} tokens per run, ${settings.repeat} round${settings.repeat === 1 ? "" : "s"} (mode order rotated each round, ` +
            `${settings.warmupTokens} warm-up tokens per mode first` +
            `${settings.settleSteps ? `, each run timed after ${settings.settleSteps} untimed steps` : ""}), batch ${settings.batch}, ${settings.kvType} KV cache, ` +
            `flash attention ${settings.flashAttention ? "on" : "off"}${settings.layers == null ? "" : `, SparQ layers ${settings.layers}`}.`,
        `Load average (1, 5, 15 min): ${load(system.loadAverage.before)} before, ${load(system.loadAverage.after)} after.`,
        "",
        formatBenchTable(result),
        "",
        "- ctx: tokens in the cache when generation starts; pp t/s: filling it (dense, batched).",
        "- tg t/s: generated tokens/sec, mean ± sample sd over the rounds; speed-up: over dense at the same ctx.",
        "- attn MB/tok: K and V bytes read per generated token (SparQ: S·r + 2·k·d + 4·d elements per KV head instead of 2·S·d).",
        "- ideal: bandwidth-bound speed-up (W + A_dense) / (W + A_mode); % of ideal: speed-up / ideal.",
        ""
    ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Plot
// ---------------------------------------------------------------------------------------------

/** A Vega-Lite spec (data inlined) of generated tokens/sec against ctx, one line per mode, ± sd as error bars. */
export function benchPlotSpec(result: BenchResult): Record<string, unknown> {
    const values = result.results.map((row) => {
        const {mean, sd} = row.generation.tokensPerSecond;
        return {ctx: row.ctx, mode: row.mode, tps: mean, low: mean - (sd ?? 0), high: mean + (sd ?? 0)};
    });
    const x = {field: "ctx", type: "quantitative", title: "context (tokens in the cache)", scale: {type: "log", base: 2, padding: 24},
        axis: {values: result.settings.contexts}};
    const color = {field: "mode", type: "nominal", title: "mode", sort: result.settings.modes};
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: {
            text: `${result.model.name}: generation speed`,
            subtitle: `${result.system.backend}, ${result.system.threads} threads, batch ${result.settings.batch}, ` +
                `${result.settings.tokens} tokens x ${result.settings.repeat} rounds (mean ± sd)`
        },
        width: 480,
        height: 300,
        data: {values},
        layer: [
            {
                mark: {type: "line", point: true},
                encoding: {x, y: {field: "tps", type: "quantitative", title: "tokens/sec", scale: {zero: true}}, color}
            },
            {
                mark: {type: "rule"},
                encoding: {x, y: {field: "low", type: "quantitative"}, y2: {field: "high"}, color}
            }
        ]
    };
}

type VegaModule = {
    parse(spec: unknown): unknown,
    View: new (runtime: unknown, options: {renderer: "none"}) => {toSVG(): Promise<string>, finalize(): void}
};
type VegaLiteModule = {compile(spec: unknown): {spec: unknown}};

/**
 * Renders a Vega-Lite spec to SVG with vega and vega-lite, or returns null if they are not installed
 * (they are loaded only here, so that a missing plotting library never breaks the benchmark itself).
 */
export async function renderVegaLiteSvg(spec: unknown): Promise<string | null> {
    const names = ["vega", "vega-lite"];
    let vega: VegaModule;
    let vegaLite: VegaLiteModule;
    try {
        [vega, vegaLite] = await Promise.all(names.map((name) => import(name))) as [VegaModule, VegaLiteModule];
    } catch {
        return null;
    }
    const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), {renderer: "none"});
    try {
        return await view.toSVG();
    } finally {
        view.finalize();
    }
}

/** The files {@link writeBenchReport} wrote; svg is null when vega/vega-lite are missing. */
export type BenchReportFiles = {json: string, markdown: string, spec: string, svg: string | null};

/** Writes bench.json, bench.md, bench.vl.json (the plot's spec) and bench.svg into `dir` (created if needed). */
export async function writeBenchReport(result: BenchResult, dir: string): Promise<BenchReportFiles> {
    validateBenchResult(result);
    await fs.mkdir(dir, {recursive: true});
    const files: BenchReportFiles = {
        json: path.join(dir, "bench.json"),
        markdown: path.join(dir, "bench.md"),
        spec: path.join(dir, "bench.vl.json"),
        svg: path.join(dir, "bench.svg")
    };
    const spec = benchPlotSpec(result);
    await fs.writeFile(files.json, `${JSON.stringify(result, null, 2)}\n`);
    await fs.writeFile(files.markdown, formatBenchMarkdown(result));
    await fs.writeFile(files.spec, `${JSON.stringify(spec, null, 2)}\n`);
    const svg = await renderVegaLiteSvg(spec);
    if (svg == null)
        files.svg = null;
    else
        await fs.writeFile(files.svg!, svg);
    return files;
}
