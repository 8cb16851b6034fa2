import type {CommandModule} from "yargs";
import {findCachedBuild, getBuildKey} from "../../build/compile.js";
import {parseGpuBackend} from "../../build/toolchain.js";
import {readPin} from "../../build/vendor.js";
import {getSparqLlama, getSparqVersion} from "../../load.js";

type InfoArgs = {gpu: string};

export const infoCommand: CommandModule<object, InfoArgs> = {
    command: "info",
    describe: "Show the pinned llama.cpp, the cached build, its backends and GPU, and the SparQ marker",
    builder: (yargs) => yargs
        .option("gpu", {type: "string", default: "cpu", describe: "Which build to describe: cpu or cuda"})
        .example("$0 info", "describe the CPU build"),
    handler: async (args) => {
        const gpu = parseGpuBackend(args.gpu);
        const pin = await readPin();
        console.log(`llama.cpp: ${pin.release} (${pin.commit}), from node-llama-cpp ${pin.nodeLlamaCpp}`);
        const build = await findCachedBuild({gpu});
        if (build == null) {
            console.log(`build: ${await getBuildKey({gpu})} not compiled yet (run \`sparq build${gpu ? ` --gpu ${gpu}` : ""}\`)`);
            return;
        }
        console.log(`build: ${build.key} (gpu: ${build.gpu || "cpu"}, compiled in ${build.compileSeconds.toFixed(0)} s) at ${build.dir}`);
        const llama = await getSparqLlama({gpu, build: "never"});
        try {
            console.log(`SparQ marker: version ${getSparqVersion(llama)}`);
            console.log(`backend in use: ${llama.gpu || "cpu"}${llama.gpu ? ` (${(await llama.getGpuDeviceNames()).join(", ")})` : ""}`);
            console.log(`system info: ${llama.systemInfo}`);
        } finally {
            await llama.dispose();
        }
    }
};
