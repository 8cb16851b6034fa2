import crypto from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import {git} from "./git.js";
import {llamaCppDir, patchesDir} from "./paths.js";
import {baseTag, materializeVendor, seriesBranch} from "./vendor.js";

/** Thrown when vendor/llama.cpp holds work that applying the series would throw away. */
export class VendorTamperedError extends Error {}
/** Thrown when a patch of the series does not apply; names the patch, file and hunk. */
export class PatchApplyError extends Error {}

/** Git config keys (local to vendor/llama.cpp) recording which series is applied at which commit. */
const appliedSeriesKey = "sparq.appliedseries";
const appliedHeadKey = "sparq.appliedhead";

/** The series, in order: patches/NNNN-*.patch. */
export async function listPatches(dir = patchesDir): Promise<string[]> {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    return names.filter((name) => /^\d{4}-.*\.patch$/.test(name)).sort().map((name) => path.join(dir, name));
}

/** Content hash of the series (names and bytes): part of every build cache key. */
export async function hashPatchSeries(dir = patchesDir): Promise<string> {
    const hash = crypto.createHash("sha256");
    for (const file of await listPatches(dir)) {
        hash.update(path.basename(file)).update("\0");
        hash.update(await fs.readFile(file)).update("\0");
    }
    return hash.digest("hex");
}

/** Where a series is applied and read from: vendor/llama.cpp and patches/ unless a test says otherwise. */
export type SeriesLocation = {
    tree?: string,
    patches?: string
};

async function getConfig(tree: string, key: string): Promise<string> {
    return git(tree, ["config", "--get", key]).catch(() => "");
}

async function recordApplied(tree: string, series: string): Promise<void> {
    await git(tree, ["config", appliedSeriesKey, series]);
    await git(tree, ["config", appliedHeadKey, await git(tree, ["rev-parse", "HEAD"])]);
}

/** Throws if vendor/llama.cpp has uncommitted changes, naming the first few paths. */
export async function assertVendorClean(tree = llamaCppDir): Promise<void> {
    const status = await git(tree, ["status", "--porcelain", "--untracked-files=all"], {trim: false});
    if (status.trim() === "")
        return;
    const paths = status.split("\n").filter(Boolean).map((line) => line.slice(3));
    throw new VendorTamperedError(
        `vendor/llama.cpp has uncommitted changes (${paths.slice(0, 5).join(", ")}${paths.length > 5 ? ", ..." : ""}): ` +
        "commit them inside vendor/llama.cpp and run `npm run patches -- export`, or discard them with `npm run patches -- apply --force`"
    );
}

/** Explains why `patch` does not apply on the current tree: "file, hunk at line N" from git apply. */
async function describeFailure(tree: string, patch: string): Promise<string> {
    const message = await git(tree, ["apply", "--check", "--verbose", patch]).then(() => "", (err: Error) => err.message);
    const failed = [...message.matchAll(/error: patch failed: (.+):(\d+)/g)].map((m) => `${m[1]}, hunk at line ${m[2]}`);
    const missing = [...message.matchAll(/error: (.+): (does not exist in index|No such file or directory|already exists in working directory)/g)]
        .map((m) => `${m[1]}: ${m[2]}`);
    return [...failed, ...missing].join("; ") || message.split("\n").filter((line) => line.startsWith("error:")).join("; ");
}

export type ApplyResult = {
    /** Number of patches in the series. */
    patches: number,
    /** False when the series was already applied (applying twice is a no-op). */
    changed: boolean,
    /** Content hash of the series. */
    series: string
};

/**
 * Materialises vendor/llama.cpp if needed and applies patches/ on top of the base, one commit per
 * patch. A no-op if this exact series is already applied. Refuses to discard uncommitted changes or
 * commits that were never exported, unless `force`.
 */
export async function applyPatches({force = false, tree = llamaCppDir, patches: dir = patchesDir}: SeriesLocation & {force?: boolean} = {}): Promise<ApplyResult> {
    await materializeVendor(tree);
    const series = await hashPatchSeries(dir);
    const patches = await listPatches(dir);
    const head = await git(tree, ["rev-parse", "HEAD"]);
    const appliedHead = await getConfig(tree, appliedHeadKey);

    if (!force) {
        await assertVendorClean(tree);
        const base = await git(tree, ["rev-parse", `${baseTag}^{commit}`]);
        if (head !== appliedHead && head !== base)
            throw new VendorTamperedError(
                "vendor/llama.cpp has commits that are not in patches/: export them with `npm run patches -- export`, " +
                "or discard them with `npm run patches -- apply --force`"
            );
        if (head === appliedHead && await getConfig(tree, appliedSeriesKey) === series)
            return {patches: patches.length, changed: false, series};
    }

    await git(tree, ["am", "--abort"]).catch(() => undefined);
    await git(tree, ["checkout", "-q", "-f", "-B", seriesBranch, baseTag]);
    await git(tree, ["clean", "-q", "-fdx"]);
    for (const patch of patches) {
        try {
            await git(tree, ["am", "-q", "--committer-date-is-author-date", patch]);
        } catch {
            await git(tree, ["am", "--abort"]).catch(() => undefined);
            const where = await describeFailure(tree, patch);
            await git(tree, ["checkout", "-q", "-f", "-B", seriesBranch, baseTag]);
            throw new PatchApplyError(`patches/${path.basename(patch)} does not apply to the pinned llama.cpp: ${where}`);
        }
    }
    await recordApplied(tree, series);
    return {patches: patches.length, changed: true, series};
}

/**
 * Writes the commits on top of the base in vendor/llama.cpp as the patch series in patches/
 * (replacing its NNNN-*.patch files), in a byte-stable format: zero commit ids, full blob ids, unnumbered subjects,
 * no version signature.
 */
export async function exportPatches({tree = llamaCppDir, patches: outDir = patchesDir}: SeriesLocation = {}): Promise<string[]> {
    await assertVendorClean(tree);
    await fs.mkdir(outDir, {recursive: true});
    for (const old of await listPatches(outDir))
        await fs.rm(old);
    await git(tree, [
        "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
        "format-patch", "-q", "--no-numbered", "--zero-commit", "--full-index", "--no-signature", "--no-renames",
        "-o", outDir, `${baseTag}..HEAD`
    ]);
    await recordApplied(tree, await hashPatchSeries(outDir));
    return listPatches(outDir);
}
