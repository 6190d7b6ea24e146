/**
 * The CLI from the compiled sources (dist/src), never the bundle: CPU profiles taken through it
 * name every tsops module and function (the bundle's chunks are hashed and minified).
 */
import { main } from '../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
