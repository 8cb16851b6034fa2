/**
 * The `--settings` list of the eval commands: which attention settings to compare on the same model
 * and data, e.g. `dense,ratio:2,ratio:8,ratio:8/no-realloc,r64k128`.
 */
import {resolveSparqSettings, SparqSettingsError, type NativeSparqParams, type SparqModelShape, type SparqSettings} from "../sparq/settings.js";

/** One setting of the comparison: dense attention, or SparQ with these settings. */
export type EvalSetting = {
    /** Canonical name, as printed in tables (`dense`, `ratio:8`, `r64k128l16/no-realloc`). */
    label: string,
    sparq: SparqSettings | false
};

/** A setting resolved against a model: its native parameters (null for dense). */
export type ResolvedEvalSetting = EvalSetting & {params: NativeSparqParams | null};

/** Thrown for a malformed `--settings` list; the message names the item and what is wrong. */
export class SettingsListError extends Error {}

/** Defaults applied to every SparQ item of a list (the command's `--layers` and `--no-mean-realloc`). */
export type SettingsListDefaults = {
    layers?: string,
    meanRealloc?: boolean
};

const syntax = "expected dense, ratio:C (C >= 1) or rRkK[lL] (e.g. r64k128), optionally followed by " +
    "/no-realloc, /realloc, /kmin=N or /per-head";

function positiveInteger(text: string, what: string, item: string): number {
    if (!/^\d+$/.test(text) || Number(text) < 1)
        throw new SettingsListError(`--settings item "${item}": ${what} must be an integer >= 1, got "${text}"`);
    return Number(text);
}

function parseItem(item: string, defaults: SettingsListDefaults): EvalSetting {
    const [base = "", ...modifiers] = item.split("/");
    if (base === "dense") {
        if (modifiers.length > 0)
            throw new SettingsListError(`--settings item "${item}": dense takes no modifiers`);
        return {label: "dense", sparq: false};
    }

    const sparq: SparqSettings = {};
    let label: string;
    const ratioMatch = /^ratio:(.*)$/.exec(base);
    const rkMatch = /^r(\w*?)k(\w*?)(?:l(\w*))?$/.exec(base);
    if (ratioMatch != null) {
        const value = ratioMatch[1]!;
        const ratio = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
        if (!(ratio >= 1))
            throw new SettingsListError(`--settings item "${item}": the ratio must be a number >= 1, got "${value}"`);
        sparq.ratio = ratio;
        label = `ratio:${ratio}`;
    } else if (rkMatch != null) {
        sparq.r = positiveInteger(rkMatch[1]!, "r", item);
        sparq.k = positiveInteger(rkMatch[2]!, "k", item);
        label = `r${sparq.r}k${sparq.k}`;
        if (rkMatch[3] !== undefined) {
            if (!/^\d+$/.test(rkMatch[3]))
                throw new SettingsListError(`--settings item "${item}": l must be an integer >= 0, got "${rkMatch[3]}"`);
            sparq.l = Number(rkMatch[3]);
            if (sparq.l > sparq.k)
                throw new SettingsListError(`--settings item "${item}": l = ${sparq.l} must not exceed k = ${sparq.k}`);
            label += `l${sparq.l}`;
        }
    } else
        throw new SettingsListError(`--settings item "${item}" is not a setting: ${syntax}`);

    let meanRealloc = defaults.meanRealloc ?? true;
    const seen = new Set<string>();
    for (const modifier of modifiers) {
        const name = modifier.split("=")[0]!;
        if (seen.has(name === "realloc" ? "no-realloc" : name))
            throw new SettingsListError(`--settings item "${item}": "${name}" is given twice`);
        seen.add(name === "realloc" ? "no-realloc" : name);
        if (modifier === "no-realloc")
            meanRealloc = false;
        else if (modifier === "realloc")
            meanRealloc = true;
        else if (modifier === "per-head")
            sparq.gqa = "per-head";
        else if (name === "kmin") {
            if (sparq.ratio === undefined)
                throw new SettingsListError(`--settings item "${item}": kmin only applies to ratio:C settings`);
            sparq.kMin = positiveInteger(modifier.slice("kmin=".length), "kmin", item);
        } else
            throw new SettingsListError(`--settings item "${item}": unknown modifier "/${modifier}" (known: /no-realloc, /realloc, /kmin=N, /per-head)`);
    }
    sparq.meanRealloc = meanRealloc;
    // fidelity is measured wherever the settings allow SparQ, not only where the backend's op is faster
    sparq.denseBelow = 0;
    if (defaults.layers !== undefined)
        sparq.layers = defaults.layers;
    if (sparq.kMin !== undefined)
        label += `/kmin=${sparq.kMin}`;
    if (sparq.gqa === "per-head")
        label += "/per-head";
    if (!meanRealloc)
        label += "/no-realloc";
    return {label, sparq};
}

/**
 * Parses a comma-separated settings list. Throws a SettingsListError naming the first bad item, an
 * empty list or item, or a setting given twice. `--layers` and `--no-mean-realloc` come in as
 * `defaults` (a per-item `/realloc` or `/no-realloc` overrides the latter).
 */
export function parseSettingsList(spec: string, defaults: SettingsListDefaults = {}): EvalSetting[] {
    if (spec.trim() === "")
        throw new SettingsListError(`--settings is empty: ${syntax}`);
    const items = spec.split(",").map((item) => item.trim());
    const settings: EvalSetting[] = [];
    items.forEach((item, i) => {
        if (item === "")
            throw new SettingsListError(`--settings item ${i + 1} of "${spec}" is empty`);
        const setting = parseItem(item, defaults);
        if (settings.some((s) => s.label === setting.label))
            throw new SettingsListError(`--settings lists ${setting.label} twice`);
        settings.push(setting);
    });
    return settings;
}

/**
 * Validates every setting against the model before anything runs (r beyond the head size, layers that
 * do not exist), naming the setting; returns the native parameters the transfer model needs.
 */
export function resolveEvalSettings(settings: readonly EvalSetting[], shape: SparqModelShape): ResolvedEvalSetting[] {
    return settings.map((setting) => {
        if (setting.sparq === false)
            return {...setting, params: null};
        try {
            return {...setting, params: resolveSparqSettings(setting.sparq, shape)};
        } catch (err) {
            if (err instanceof SparqSettingsError)
                throw new SettingsListError(`--settings item "${setting.label}": ${err.message}`);
            throw err;
        }
    });
}
