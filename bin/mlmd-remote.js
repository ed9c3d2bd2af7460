#!/usr/bin/env node
// Runs the JavaScript compiled from src/ into lib/, compiling first when the
// sources changed (so there is no build step to forget).
import { ensureCompiled } from '../tools/compile.mjs';

ensureCompiled();
const { main } = await import('../lib/cli.js');
process.exitCode = await main();
