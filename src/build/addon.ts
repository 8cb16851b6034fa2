import fs from "node:fs/promises";
import path from "node:path";
import {git} from "./git.js";
import {nodeLlamaCppLlamaDir, patchesDir} from "./paths.js";
import {PatchApplyError, listPatches} from "./patches.js";

/** Our changes to node-llama-cpp's addon sources (its `llama/addon/`), applied before every build. */
export const addonPatchesDir = path.join(patchesDir, "addon");

/** What is applied now, kept beside the sources so a changed series can be reverted first. */
const appliedRecord = ".sparq-addon-applied.patch";

async function readSeries(dir: string): Promise<string> {
    const texts = await Promise.all((await listPatches(dir)).map((file) => fs.readFile(file, "utf8")));
    return texts.join("");
}

/** git apply outside any repository: node_modules may sit inside one, whose paths must not count. */
async function apply(llamaDir: string, patch: string, args: string[]): Promise<void> {
    const file = path.join(llamaDir, ".sparq-addon-pending.patch");
    await fs.writeFile(file, patch);
    try {
        process.env.GIT_CEILING_DIRECTORIES = path.dirname(llamaDir);
        await git(llamaDir, ["apply", ...args, file]);
    } finally {
        delete process.env.GIT_CEILING_DIRECTORIES;
        await fs.rm(file, {force: true});
    }
}

/**
 * Brings node-llama-cpp's addon sources to exactly our addon series: reverts a previously applied,
 * different series first; applying the same series twice is a no-op.
 */
export async function applyAddonPatches({llamaDir = nodeLlamaCppLlamaDir, dir = addonPatchesDir} = {}): Promise<boolean> {
    const series = await readSeries(dir);
    const recordFile = path.join(llamaDir, appliedRecord);
    const applied = await fs.readFile(recordFile, "utf8").catch(() => "");
    if (applied === series)
        return false;
    if (applied !== "")
        await apply(llamaDir, applied, ["--reverse"]);
    if (series !== "") {
        try {
            await apply(llamaDir, series, ["--check"]);
        } catch (err) {
            throw new PatchApplyError(`patches/addon does not apply to node-llama-cpp's addon sources: ${(err as Error).message}`);
        }
        await apply(llamaDir, series, []);
    }
    await fs.writeFile(recordFile, series);
    return true;
}

/** Content of the addon series, for the build cache key. */
export async function readAddonSeries(): Promise<string> {
    return readSeries(addonPatchesDir);
}
