import type {CommandModule} from "yargs";
import {applyPatches, exportPatches} from "../../build/patches.js";

type PatchesArgs = {action: string, force: boolean};

export const patchesCommand: CommandModule<object, PatchesArgs> = {
    command: "patches <action>",
    describe: "Apply patches/ to vendor/llama.cpp, or export the commits made there back into patches/",
    builder: (yargs) => yargs
        .positional("action", {type: "string", choices: ["apply", "export"], demandOption: true})
        .option("force", {type: "boolean", default: false, describe: "apply: discard local changes and unexported commits in vendor/llama.cpp"})
        .example("$0 patches apply", "materialise the pinned llama.cpp and apply the series")
        .example("$0 patches export", "after committing inside vendor/llama.cpp: rewrite patches/"),
    handler: async ({action, force}) => {
        if (action === "apply") {
            const result = await applyPatches({force});
            console.log(result.changed ? `applied ${result.patches} patches to vendor/llama.cpp` : `already applied (${result.patches} patches)`);
        } else {
            const files = await exportPatches();
            console.log(`exported ${files.length} patches to patches/`);
        }
    }
};
