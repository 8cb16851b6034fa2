import {defineConfig} from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // Compiles the patched build once (or finds it in the cache) before any test file runs.
        globalSetup: ["test/setup/build.ts"],
        // Native addons and child processes: one fork per test file.
        pool: "forks",
        testTimeout: 180_000,
        hookTimeout: 180_000
    }
});
