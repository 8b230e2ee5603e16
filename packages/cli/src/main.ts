/**
 * The `tessera` program: its commands, and the exit contract: 0 on success; 1 with one line
 * `tessera: <reason>` on stderr on any failure (bad arguments, a bad TESSERA_* value, the store).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { keysCommand } from './commands/keys.js';
import { migrateCommand } from './commands/migrate.js';
import { purgeCommand } from './commands/purge.js';
import { secretCommand } from './commands/secret.js';
import { sessionsCommand } from './commands/sessions.js';
import { setupCommand } from './commands/setup.js';
import { CliError, describeError, redactUrl } from './shared.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Commander's own errors (`error: unknown option '--x'\n(Did you mean --y?)`) as one line, URL passwords hidden. */
function commanderLine(text: string): string {
  return redactUrl(text.replace(/^error: /, '').split('\n').map(s => s.trim()).filter(Boolean).join(' '));
}

/** Every command and group reports its problems as one line and throws instead of exiting. */
function configure(cmd: Command): void {
  cmd
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (text, write) => write(`tessera: ${commanderLine(text)}\n`) });
  // A group run without a known subcommand: one line, not the help text.
  if (cmd.commands.length > 0 && cmd.parent) {
    cmd.allowExcessArguments(true).action((_opts: unknown, self: Command) => {
      const [first] = self.args;
      const known = self.commands.map(c => c.name()).join(' or ');
      throw new CliError(first === undefined ? `${self.name()}: missing command: ${known}` : `${self.name()}: unknown command '${first}' (expected ${known})`);
    });
  }
  for (const sub of cmd.commands) configure(sub);
}

export function program(): Command {
  const p = new Command('tessera')
    .description('Tessera sessions from the command line. Reads TESSERA_* like the apps (TESSERA_STORE names the store).')
    .version(VERSION, '-V, --version')
    .addCommand(secretCommand())
    .addCommand(setupCommand())
    .addCommand(sessionsCommand())
    .addCommand(purgeCommand())
    .addCommand(keysCommand())
    .addCommand(migrateCommand())
    .addHelpText(
      'after',
      '\nEvery command takes --help. Exit code 0 on success; 1 with a one-line reason on stderr on any failure.\nDocumentation: https://github.com/tessera-auth/tessera/tree/main/packages/cli#readme',
    );
  configure(p);
  return p;
}

/** Runs the program on `argv` (without `node` and the script); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write('tessera: missing command; run tessera --help for the list\n');
    return 1;
  }
  const p = program();
  if (argv[0] === 'help' && argv[1] !== undefined && !p.commands.some(c => c.name() === argv[1])) {
    process.stderr.write(`tessera: help: unknown command '${argv[1]}'\n`);
    return 1;
  }
  try {
    await p.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    // Help and --version "fail" with exit code 0; commander already wrote its own errors.
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`tessera: ${describeError(err)}\n`);
    return 1;
  }
}
