#!/usr/bin/env node
import {hideBin} from "yargs/helpers";
import {createCli} from "./index.js";

// yargs reports flag errors by throwing from inside parseAsync(), before its promise exists
try {
    await createCli(hideBin(process.argv)).parseAsync();
} catch (err) {
    console.error(`sparq: ${(err as Error).message}`);
    process.exitCode = 1;
}
