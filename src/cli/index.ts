/** The public surface of kiln's CLI layer: the command framework, io, output helpers and the program. */
export {
  createCli,
  defineCommand,
  commandHelp,
  parseCommandArgs,
  reportError,
  jsonReplacer,
  type Cli,
  type CliSpec,
  type Command,
  type CommandSpec,
  type CommandContext,
  type GroupSpec,
  type OptionSpec,
  type OptionSpecs,
  type BooleanOption,
  type StringOption,
  type RepeatableOption,
  type PositionalSpec,
  type Example,
  type OptionValue,
  type OptionValues,
  type PositionalValues,
} from './framework.js';
export { captureIo, type CliIo, type CliWriter, type CapturedIo } from './io.js';
export { table, keyValues, thousands, humanBytes, compactNumber, wrap, closest, editDistance, type TableOptions, type Align } from '../format.js';
export { runMain, cli } from './main.js';
export { versions, packageVersion } from './versions.js';
