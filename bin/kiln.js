#!/usr/bin/env node
// The `kiln` command: register tsx's loader so Node runs kiln's TypeScript sources directly
// (no build step), then hand over to src/cli/main.ts, which owns argv, streams and the exit code.
import { register } from 'tsx/esm/api';

register();
const { runMain } = await import('../src/cli/main.ts');
await runMain();
