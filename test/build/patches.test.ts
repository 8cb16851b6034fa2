import fs from "node:fs/promises";
import path from "node:path";
import {afterAll, beforeAll, describe, expect, it} from "vitest";
import {git} from "../../src/build/git.js";
import {applyPatches, exportPatches, listPatches, PatchApplyError, VendorTamperedError} from "../../src/build/patches.js";
import {PinMismatchError, readPin, verifyBundle} from "../../src/build/vendor.js";
import {makeTempDir} from "../helpers.js";

// Every case works on its own tree materialised from node-llama-cpp's bundle, never on vendor/llama.cpp.
describe("patch series", () => {
    let temp: Awaited<ReturnType<typeof makeTempDir>>;
    let tree: string;

    beforeAll(async () => {
        temp = await makeTempDir("patches");
        tree = path.join(temp.dir, "llama.cpp");
    });
    afterAll(() => temp.cleanup());

    it("applies cleanly to the pin, and applying twice is a no-op", async () => {
        const series = await listPatches();
        expect(series.length).toBeGreaterThan(0);
        const first = await applyPatches({tree});
        expect(first).toMatchObject({changed: true, patches: series.length});
        expect(await git(tree, ["rev-list", "--count", "sparq-base..HEAD"])).toBe(String(series.length));

        const head = await git(tree, ["rev-parse", "HEAD"]);
        const second = await applyPatches({tree});
        expect(second.changed).toBe(false);
        expect(await git(tree, ["rev-parse", "HEAD"])).toBe(head);
    });

    it("re-exports the applied series byte for byte", async () => {
        const out = path.join(temp.dir, "exported");
        const exported = await exportPatches({tree, patches: out});
        const original = await listPatches();
        expect(exported.map((file) => path.basename(file))).toEqual(original.map((file) => path.basename(file)));
        for (const [i, file] of original.entries())
            expect((await fs.readFile(exported[i]!)).equals(await fs.readFile(file)), path.basename(file)).toBe(true);
    });

    it("refuses to overwrite a tampered tree, naming the changed file", async () => {
        const file = path.join(tree, "src", "llama.cpp");
        const original = await fs.readFile(file, "utf8");
        await fs.writeFile(file, original + "\n// local edit\n");
        const error = await applyPatches({tree}).catch((err: Error) => err);
        expect(error).toBeInstanceOf(VendorTamperedError);
        expect((error as Error).message).toContain("src/llama.cpp");
        await fs.writeFile(file, original);
        await expect(applyPatches({tree})).resolves.toMatchObject({changed: false});
    });

    it("refuses to drop commits that were never exported, unless forced", async () => {
        await fs.writeFile(path.join(tree, "SPARQ_NOTE"), "x\n");
        await git(tree, ["add", "SPARQ_NOTE"]);
        await git(tree, ["commit", "-q", "-m", "unexported"]);
        await expect(applyPatches({tree})).rejects.toThrow(/not in patches\//);
        await expect(applyPatches({tree, force: true})).resolves.toMatchObject({changed: true});
        await expect(fs.stat(path.join(tree, "SPARQ_NOTE"))).rejects.toThrow();
    });

    it("names the patch, file and hunk that fail to apply", async () => {
        const broken = path.join(temp.dir, "broken");
        await fs.mkdir(broken);
        const [first] = await listPatches();
        const text = await fs.readFile(first!, "utf8");
        // Change a context line of the first hunk in src/llama.cpp so that it no longer matches the tree.
        const hunk = text.indexOf("+++ b/src/llama.cpp");
        expect(hunk).toBeGreaterThan(0);
        const contextLine = text.indexOf("\n ", text.indexOf("@@", hunk));
        const corrupted = text.slice(0, contextLine + 2) + "THIS LINE IS NOT IN LLAMA.CPP " + text.slice(contextLine + 2);
        await fs.writeFile(path.join(broken, path.basename(first!)), corrupted);

        const error = await applyPatches({tree, patches: broken}).catch((err: Error) => err);
        expect(error).toBeInstanceOf(PatchApplyError);
        expect((error as Error).message).toContain(path.basename(first!));
        expect((error as Error).message).toMatch(/src\/llama\.cpp, hunk at line \d+/);
        // the tree is left on the base, clean, not half-patched
        expect(await git(tree, ["status", "--porcelain"])).toBe("");
        expect(await git(tree, ["rev-parse", "HEAD"])).toBe(await git(tree, ["rev-parse", "sparq-base^{commit}"]));
    });

    it("rejects a node-llama-cpp bundle that is not the pinned release", async () => {
        const pin = await readPin();
        await expect(verifyBundle({...pin, commit: "0".repeat(40)})).rejects.toThrow(PinMismatchError);
        await expect(verifyBundle({...pin, nodeLlamaCpp: "0.0.1"})).rejects.toThrow(/node-llama-cpp .* is installed/);
        await expect(verifyBundle(pin)).resolves.toMatch(/gitRelease\.bundle$/);
    });
});
