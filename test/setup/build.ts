import type {TestProject} from "vitest/node";
import {buildSparqLlama} from "../../src/build/compile.js";
import {buildNativeTools} from "../../src/build/native.js";
import {buildRpcServer} from "../../src/build/rpc-server.js";
import {applyPatches} from "../../src/build/patches.js";
import {createBuildProgressPrinter} from "../../src/cli/progress.js";

declare module "vitest" {
    export interface ProvidedContext {
        /** Folders of the native op test and benchmark, per target. */
        nativeTools: {host: string, aarch64: string}
    }
}

/**
 * Before any test file: the patched tree (tests read it, e.g. its vocab files), the addon builds the
 * tests load (plain, and with the RPC backend), the patched and stock rpc-servers, and the native op
 * tools for this CPU and for arm64 (run under qemu). All cached: seconds once built.
 */
export default async function setup(project: TestProject): Promise<void> {
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
        const started = performance.now();
        const result = await work();
        console.log(`${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
        return result;
    };
    await step("vendor/llama.cpp patched", () => applyPatches());
    const build = await step("addon build", () => buildSparqLlama({gpu: false, onProgress: createBuildProgressPrinter(process.stdout)}));
    console.log(`  ${build.key}, ${build.fromCache ? "from cache" : "compiled"}`);
    await step("addon build with the RPC backend", () => buildSparqLlama({gpu: false, rpc: true, onProgress: createBuildProgressPrinter(process.stdout)}));
    await step("rpc-server (patched)", () => buildRpcServer("sparq"));
    await step("rpc-server (stock, for the refusal test)", () => buildRpcServer("stock"));
    const host = await step("native op tools (host)", () => buildNativeTools("host"));
    const aarch64 = await step("native op tools (aarch64)", () => buildNativeTools("aarch64"));
    project.provide("nativeTools", {host, aarch64});
}
