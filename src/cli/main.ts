#!/usr/bin/env node
import {hideBin} from "yargs/helpers";
import {createCli} from "./index.js";

createCli(hideBin(process.argv)).parseAsync().catch((err: Error) => {
    console.error(`sparq: ${err.message}`);
    process.exitCode = 1;
});
