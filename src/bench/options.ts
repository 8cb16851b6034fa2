/**
 * Parsers for the values users write on the command line of `sparq bench` and `sparq generate`:
 * token counts (`1k`), lists of them, benchmark modes (`dense`, `sparq:8`, `sparq:16,256`) and
 * SparQ specs (`8`, `16,256`). Each throws an Error naming the flag and the bad value.
 */
import type {SparqSettings} from "../sparq/settings.js";

/** A benchmark mode: dense attention, or SparQ with the given settings. */
export type BenchMode = {
    /** As the user wrote it, normalised: `dense`, `sparq:8`, `sparq:16,256`. */
    label: string,
    /** false for dense attention. */
    sparq: false | SparqSettings
};

/**
 * A token count: an integer, or a number with a `k` suffix (x1024): `512`, `1k`, `16k`, `1.5k`.
 * @throws naming `flag` when it is not one, or when it is below `min`
 */
export function parseTokenCount(text: string, flag: string, min = 1): number {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([kK]?)\s*$/.exec(text);
    const value = match == null ? NaN : Number(match[1]) * (match[2] === "" ? 1 : 1024);
    if (!Number.isSafeInteger(value))
        throw new Error(`${flag} "${text}" is not a token count (e.g. 512, 1k, 16k)`);
    if (value < min)
        throw new Error(`${flag} ${text} is too small: at least ${min} tokens`);
    return value;
}

/** A comma-separated list of token counts, each given once: `1k,4k,16k`. */
export function parseTokenCountList(text: string, flag: string, min = 1): number[] {
    const parts = text.split(",").map((part) => part.trim());
    if (parts.length === 0 || parts.some((part) => part === ""))
        throw new Error(`${flag} "${text}" must be a comma-separated list of token counts (e.g. 1k,4k,16k)`);
    const values = parts.map((part) => parseTokenCount(part, flag, min));
    const repeated = values.find((value, i) => values.indexOf(value) !== i);
    if (repeated !== undefined)
        throw new Error(`${flag} "${text}" names ${repeated} tokens twice`);
    return values;
}

/** A comma-separated list of positive integers: `1,8`. */
export function parsePositiveIntegerList(text: string, flag: string): number[] {
    const parts = text.split(",").map((part) => part.trim());
    const values = parts.map(Number);
    const bad = parts.find((part, i) => !/^\d+$/.test(part) || !(values[i]! >= 1));
    if (bad !== undefined)
        throw new Error(`${flag} "${text}": "${bad}" is not a positive integer`);
    return values;
}

const sparqSpecHelp = "a ratio (e.g. 8: r = d/8, k = max(32, S/16)) or r,k (e.g. 16,256)";

/** The settings a SparQ spec stands for, or why it is invalid. */
function readSparqSpec(text: string): SparqSettings | string {
    const spec = text.trim();
    if (/^\d+(\.\d+)?$/.test(spec)) {
        const ratio = Number(spec);
        return ratio >= 1 ? {ratio} : "the ratio must be >= 1 (1 reads as much as dense attention)";
    }
    const match = /^(\d+)\s*,\s*(\d+)$/.exec(spec);
    if (match == null)
        return `it is not ${sparqSpecHelp}`;
    const r = Number(match[1]);
    const k = Number(match[2]);
    return r >= 1 && k >= 1 ? {r, k} : "r and k must be >= 1";
}

/**
 * A SparQ spec: a compression ratio (`8`, `1.5`) or absolute `r,k` (`16,256`). `layers`, when given,
 * is added to the settings unchanged (it is validated against the model when applied).
 */
export function parseSparqSpec(text: string, flag: string, layers?: string): SparqSettings {
    const settings = readSparqSpec(text);
    if (typeof settings === "string")
        throw new Error(`${flag} "${text}": ${settings}`);
    return layers === undefined ? settings : {...settings, layers};
}

/**
 * Benchmark modes, comma-separated: `dense`, `sparq:RATIO`, `sparq:R,K`. The comma inside
 * `sparq:R,K` is told apart from the list separator because a bare number is never a mode:
 * `dense,sparq:8,sparq:16,256` is dense, ratio 8, and r = 16, k = 256.
 */
export function parseModes(text: string, flag = "--modes", layers?: string): BenchMode[] {
    const parts = text.split(",").map((part) => part.trim());
    const modes: BenchMode[] = [];
    for (let i = 0; i < parts.length; i++) {
        const part = parts[i]!;
        if (part === "dense") {
            modes.push({label: "dense", sparq: false});
            continue;
        }
        const match = /^sparq:(.+)$/.exec(part);
        if (match == null)
            throw new Error(`${flag}: unknown mode "${part}": use dense, sparq:RATIO (e.g. sparq:8) or sparq:R,K (e.g. sparq:16,256)`);
        let spec = match[1]!;
        const next = parts[i + 1];
        if (/^\d+$/.test(spec) && next !== undefined && /^\d+$/.test(next)) {
            spec = `${spec},${next}`;
            i++;
        }
        const sparq = readSparqSpec(spec);
        if (typeof sparq === "string")
            throw new Error(`${flag}: mode "sparq:${spec}": ${sparq}`);
        const label = `sparq:${sparq.ratio !== undefined ? sparq.ratio : `${sparq.r},${sparq.k}`}`;
        modes.push({label, sparq: layers === undefined ? sparq : {...sparq, layers}});
    }
    if (modes.length === 0)
        throw new Error(`${flag} names no mode`);
    const labels = modes.map((mode) => mode.label);
    const repeated = labels.find((label, i) => labels.indexOf(label) !== i);
    if (repeated !== undefined)
        throw new Error(`${flag} names ${repeated} twice`);
    return modes;
}
