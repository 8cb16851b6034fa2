import yargs from "yargs";
import {benchCommand} from "./commands/bench.js";
import {buildCommand} from "./commands/build.js";
import {evalCommand} from "./commands/eval.js";
import {generateCommand} from "./commands/generate.js";
import {infoCommand} from "./commands/info.js";
import {modelsCommand} from "./commands/models.js";
import {patchesCommand} from "./commands/patches.js";

/** The `sparq` command line, unparsed: tests drive it in-process. */
export function createCli(argv: string[]) {
    return yargs(argv)
        .scriptName("sparq")
        .command(generateCommand)
        .command(buildCommand)
        .command(infoCommand)
        .command(patchesCommand)
        .command(benchCommand)
        .command(modelsCommand)
        .command(evalCommand)
        .demandCommand(1, "name a command: sparq <command> --help")
        .strict()
        .help()
        .fail((message, err) => {
            throw err ?? new Error(message);
        });
}
