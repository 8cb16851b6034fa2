import {buildSparqLlama} from "../../src/build/compile.js";
import {createBuildProgressPrinter} from "../../src/cli/progress.js";

/** Builds (or finds cached) the CPU build every test loads, once per `npm test`. */
export default async function setup(): Promise<void> {
    const started = performance.now();
    const build = await buildSparqLlama({gpu: false, onProgress: createBuildProgressPrinter(process.stdout)});
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`sparq-llama CPU build ${build.key}: ${build.fromCache ? "from cache" : "compiled"} in ${seconds} s`);
}
