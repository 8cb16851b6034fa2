import fs from "node:fs/promises";
import path from "node:path";
import {git} from "./git.js";
import {llamaCppDir, nodeLlamaCppDir, nodeLlamaCppLlamaDir, pinFile} from "./paths.js";

/** The llama.cpp release sparq-llama is pinned to: the one node-llama-cpp ships as a git bundle. */
export type LlamaCppPin = {
    /** Exact node-llama-cpp version whose bundle holds the pinned commit. */
    nodeLlamaCpp: string,
    /** llama.cpp release tag, as in node-llama-cpp's `llama/llama.cpp.info.json`. */
    release: string,
    /** The commit the patch series applies to. */
    commit: string
};

/** Tags inside vendor/llama.cpp: the pinned commit, and the pin plus node-llama-cpp's own fixes. */
export const pinTag = "sparq-pin";
export const baseTag = "sparq-base";
export const seriesBranch = "sparq";

/** Thrown when node-llama-cpp's bundled llama.cpp is not the release sparq-llama is pinned to. */
export class PinMismatchError extends Error {}

export async function readPin(): Promise<LlamaCppPin> {
    return JSON.parse(await fs.readFile(pinFile, "utf8")) as LlamaCppPin;
}

/** node-llama-cpp's fixes that it applies to every llama.cpp it clones; our base includes them too. */
export async function listNodeLlamaCppBasePatches(): Promise<string[]> {
    const dir = path.join(nodeLlamaCppLlamaDir, "patches");
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith(".diff")).sort().map((name) => path.join(dir, name));
}

/** Checks that the installed node-llama-cpp and its bundle match vendor/pin.json. */
export async function verifyBundle(pin: LlamaCppPin): Promise<string> {
    const nlcVersion = JSON.parse(await fs.readFile(path.join(nodeLlamaCppDir, "package.json"), "utf8")).version as string;
    if (nlcVersion !== pin.nodeLlamaCpp)
        throw new PinMismatchError(`node-llama-cpp ${nlcVersion} is installed, but vendor/pin.json pins ${pin.nodeLlamaCpp}: run npm ci`);

    const info = JSON.parse(await fs.readFile(path.join(nodeLlamaCppLlamaDir, "llama.cpp.info.json"), "utf8")) as {tag: string};
    const bundle = path.join(nodeLlamaCppLlamaDir, "gitRelease.bundle");
    const heads = await git(nodeLlamaCppLlamaDir, ["bundle", "list-heads", bundle]);
    const bundleCommit = heads.split(/\s+/)[0];
    if (info.tag !== pin.release || bundleCommit !== pin.commit)
        throw new PinMismatchError(
            `node-llama-cpp's llama.cpp bundle is ${info.tag} (${bundleCommit}), but vendor/pin.json pins ` +
            `${pin.release} (${pin.commit}): update the pin and rebase patches/ onto the new release`
        );
    return bundle;
}

/**
 * Materialises vendor/llama.cpp (or `tree`) from node-llama-cpp's bundle: the pinned commit (tag sparq-pin),
 * plus node-llama-cpp's own fixes (tag sparq-base), on branch `sparq`. Does nothing if it exists
 * and sits on the pin; throws if it sits on anything else.
 */
export async function materializeVendor(tree = llamaCppDir): Promise<void> {
    const pin = await readPin();
    const bundle = await verifyBundle(pin);

    if (await fs.stat(path.join(tree, ".git")).catch(() => null)) {
        const pinned = await git(tree, ["rev-parse", "-q", "--verify", `${pinTag}^{commit}`]).catch(() => "");
        if (pinned !== pin.commit)
            throw new PinMismatchError(
                `vendor/llama.cpp is not the pinned tree (${pinTag} is ${pinned || "missing"}, expected ${pin.commit}): ` +
                "delete vendor/llama.cpp and build again"
            );
        return;
    }

    const staging = `${tree}.staging-${process.pid}`;
    await fs.rm(staging, {recursive: true, force: true});
    await fs.mkdir(path.dirname(tree), {recursive: true});
    await git(path.dirname(tree), ["clone", "-q", "--no-checkout", bundle, staging]);
    await git(staging, ["checkout", "-q", "-B", seriesBranch, pin.commit]);
    await git(staging, ["tag", pinTag, pin.commit]);

    for (const patch of await listNodeLlamaCppBasePatches()) {
        const alreadyIn = await git(staging, ["apply", "--reverse", "--check", patch]).then(() => true, () => false);
        if (!alreadyIn)
            await git(staging, ["apply", "--index", patch]);
    }
    if (await git(staging, ["status", "--porcelain"]) !== "")
        await git(staging, ["commit", "-q", "-m", "node-llama-cpp base patches"]);
    await git(staging, ["tag", baseTag]);
    await fs.rename(staging, tree);
}
