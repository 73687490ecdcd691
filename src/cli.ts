import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, Option, type ErrorOptions } from 'commander';
import type { Context } from './context.js';
import { systemClock } from './context.js';
// What start-up needs beside commander: small modules that load neither zod nor got.
import * as errors from './api/errors.js';
import type { GlobalOptions } from './commands/shared.js';
import { processIO } from './io/streams.js';
import { declareSandboxFlags, sandboxExamples } from './sandbox/flags.js';
import { GALLERY_STATES, JOB_STATES, STATUS_ALIASES } from './io/job-states.js';
import { defaultConfigDir } from './store/paths.js';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The API's words --status takes as aliases: `submitted, pending, processing`. */
const API_STATUS_WORDS = Object.keys(STATUS_ALIASES).join(', ');

const collect = (value: string, previous: string[] = []) => [...previous, value];

function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

/**
 * commander suggests only near spellings; an unambiguous prefix of a longer option (`--aspect`
 * for `--aspect-ratio`) deserves a suggestion too.
 */
class OmniCommand extends Command {
  override createCommand(name?: string): Command {
    return new OmniCommand(name);
  }

  override error(message: string, errorOptions?: ErrorOptions): never {
    return super.error(errorOptions?.code === 'commander.unknownOption' ? withPrefixSuggestion(this, message) : message, errorOptions);
  }
}

function withPrefixSuggestion(command: Command, message: string): string {
  const flag = /unknown option '(--[^'=]+)/.exec(message)?.[1];
  if (!flag || message.includes('Did you mean')) return message;
  const longs: string[] = [];
  for (let current: Command | null = command; current; current = current.parent) {
    for (const option of current.options) if (option.long && !option.hidden) longs.push(option.long);
  }
  const matches = longs.filter((long) => long.startsWith(flag));
  return matches.length === 1 ? `${message}\n(Did you mean ${matches[0]}?)` : message;
}

const QUICK_START = `
Quick start:
  $ export OMNI_VIDEO_API_KEY=sk-...  # or: omni-video config set api-key
  $ omni-video generate "a red apple"  # waits, saves ./<task_id>.mp4
  $ omni-video sandbox                 # a local API to try it for free
`;

function addGenerateOptions(command: Command): Command {
  return command
    .option('-i, --image <url>', 'reference image URL, http(s) only; repeat for several subjects (at most 16)', collect)
    .option('--video <url|file>', 'one video to reference or edit: an http(s) URL, or a local .mp4/.mov/.webm of 1-24 s (at most 20 MiB)', collect)
    .addOption(new Option('-a, --aspect-ratio <ratio>', 'aspect ratio: 16:9 or 9:16 (also landscape, portrait) (default: 16:9, or config aspect-ratio)'))
    .addOption(new Option('-r, --resolution <res>', 'resolution; 720p is the only one today').choices(['720p']).default('720p'))
    .option('-o, --output <path>', 'file, or directory (existing or ending in /), for the video (default: ./<task_id>.mp4, or config output-dir)')
    .option('--force', 'overwrite an existing output file')
    .option('--no-wait', 'print the task id once the job is accepted, and exit')
    .option('--no-download', 'wait, then print the result URL instead of saving the video')
    .option('--timeout <seconds>', 'how long to wait for the job (default: 900); the job keeps running after')
    .option('--poll-interval <seconds>', 'fixed status polling interval (default: adaptive)')
    .option('--dry-run', 'print the request body that would be sent, and send nothing (no key needed); a local video shortened, whole with --json')
    .option('--new', 'submit even if the same request from this machine is still running (it is resumed otherwise) or may have been charged');
}

/** Declares every command cheaply; each action imports its own module only when it runs. */
export function buildProgram(ctx: Context): Command {
  const program = new OmniCommand('omni-video');
  const globals = async (command: Command): Promise<GlobalOptions> => (await import('./commands/shared.js')).parseGlobals(command.optsWithGlobals());
  program
    .description("Generate videos with APIMart's Gemini Omni Flash API: submit, wait, download.")
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--api-key <key>', 'API key (default: $OMNI_VIDEO_API_KEY, $APIMART_API_KEY, then the config store)')
    .option('--base-url <url>', 'API base URL (default: $OMNI_VIDEO_BASE_URL or https://api.apimart.ai/v1)')
    .option('--json', 'print results as JSON on stdout')
    .option('-q, --quiet', 'print nothing but results and errors')
    .option('--verbose', 'trace HTTP requests and responses on stderr (the key redacted)')
    .option('--no-color', 'turn colour off: on stderr, and in JSON on a terminal (also: NO_COLOR=1)')
    .showSuggestionAfterError(true)
    .addHelpText('after', QUICK_START)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.stdout.write(text),
      writeErr: (text) => ctx.io.stderr.write(text),
      // From ctx, not process.stdout, so that in-process runs see their own streams.
      getOutHelpWidth: () => (ctx.io.stdoutIsTTY ? ((ctx.io.stdout as NodeJS.WriteStream).columns ?? 80) : 80),
      outputError: (text, write) => write(text.replace(/^error: /, '✖ ')),
    })
    .hook('preAction', (_command, action) => {
      if (action.optsWithGlobals().color === false) ctx.io.color = false;
    });

  addGenerateOptions(
    program
      .command('generate')
      .summary('submit a job, wait for it, and save the video')
      .description('Submit a video job, wait for it, and save the mp4. At least one of prompt, --image or --video.')
      .argument('[prompt]', 'what to generate, or - to read it from stdin'),
  )
    .addHelpText(
      'after',
      examples([
        'omni-video generate "a blue butterfly landing on a flower, macro" -a portrait -o clips/',
        'omni-video generate "the cat plays with the ball of yarn" -i https://example.com/cat.jpg -i https://example.com/yarn.png',
        'omni-video generate "when the person touches the mirror, make it ripple like liquid" --video ./mirror.mp4',
        'id=$(omni-video generate "a lighthouse at dusk" --no-wait) && omni-video download "$id" --wait',
      ]),
    )
    .action(async (prompt: string | undefined, options, command: Command) => {
      const { runGenerate } = await import('./commands/generate.js');
      await runGenerate(ctx, prompt, options, await globals(command));
    });

  addGenerateOptions(
    program
      .command('extend')
      .summary('continue or edit an earlier job')
      .description('Continue or edit an earlier job (extend_from_task_id). Takes the same options as generate.')
      .argument('<task_id>', 'the job to extend: a task id, last (the newest local job sent to this base URL), or - (from stdin)')
      .argument('[prompt]', 'how to continue or edit it, or - to read it from stdin'),
  )
    .addHelpText(
      'after',
      examples([
        'omni-video extend last "the camera pulls back to reveal the whole city"',
        'omni-video extend task_01KS1H7ZYSJWH1N779S2FSHTKA "now at night" -o night.mp4',
        'omni-video extend last "the same scene at night" --no-wait',
      ]),
    )
    .action(async (taskId: string, prompt: string | undefined, options, command: Command) => {
      const { runExtend } = await import('./commands/extend.js');
      await runExtend(ctx, taskId, prompt, options, await globals(command));
    });

  program
    .command('status')
    .summary('show the state of jobs')
    .description('One line per job: id, status, progress, elapsed, ETA, cost, result URL and its expiry.')
    .argument('<task_id...>', 'task ids, last (the newest local job sent to this base URL), or - to read ids from stdin')
    .option('--wait', 'wait until every job listed has ended')
    .option('--timeout <seconds>', 'how long to wait with --wait (default: 900)')
    .addHelpText('after', examples(['omni-video status task_01KS1H7ZYSJWH1N779S2FSHTKA', 'omni-video status last --json', 'omni-video generate "x" --no-wait | omni-video status - --wait --json']))
    .action(async (ids: string[], options, command: Command) => {
      const { runStatus } = await import('./commands/status.js');
      await runStatus(ctx, ids, options, await globals(command));
    });

  program
    .command('download')
    .summary('save the video of a completed job')
    .description('Save the result of a completed job. Refuses if it is not completed (unless --wait) or its link has expired.')
    .argument('<task_id>', 'a task id, last (the newest local job sent to this base URL), or - to read it from stdin')
    .option('-o, --output <path>', 'file or directory for the video (default: the -o the job was submitted with, if not saved yet; else config output-dir; else ./<task_id>.mp4)')
    .option('--force', 'overwrite an existing file (the default when saving to the -o the job was submitted with, given with --force)')
    .option('--wait', 'wait for the job to complete first')
    .option('--timeout <seconds>', 'how long to wait with --wait (default: 900)')
    .addHelpText(
      'after',
      examples(['omni-video download last', 'omni-video download task_01KS1H7ZYSJWH1N779S2FSHTKA -o clips/ --wait', "omni-video jobs --status completed --limit 0 --json | jq -r '.[] | select(.file == null) | .task_id' | xargs -n1 omni-video download    # every completed job not saved yet"]),
    )
    .action(async (id: string, options, command: Command) => {
      const { runDownload } = await import('./commands/download.js');
      await runDownload(ctx, id, options, await globals(command));
    });

  program
    .command('jobs')
    .summary('list the jobs this machine submitted')
    .description('The local job history, newest first: every job this machine submitted, its prompt, status, cost and file.')
    .option('--limit <n>', 'how many jobs to show; 0 for all (default: 20)')
    .option('--status <state>', `only jobs in this state: ${JOB_STATES.join(', ')} (the API's ${API_STATUS_WORDS} too)`)
    .option('--refresh', 'ask the service about the listed jobs that have not ended, and record what it says')
    .option('--watch', 'keep the list live until every listed job has ended (a line per change off a terminal)')
    .addHelpText('after', examples(['omni-video jobs', 'omni-video jobs --refresh --limit 5', "omni-video jobs --status failed --json | jq -r '.[].task_id'"]))
    .action(async (options, command: Command) => {
      const { runJobs } = await import('./commands/jobs.js');
      await runJobs(ctx, options, await globals(command));
    });

  program
    .command('batch')
    .summary('run many jobs from a file, resumably')
    .description(
      'Many jobs from JSON Lines (each line a generate request: prompt, image_urls, video_urls, aspect_ratio, resolution, extend_from_task_id, optional output and id) ' +
        'or plain text (one prompt per line). One JSON line per job on stdout as each ends, a summary on stderr. ' +
        'Running it again resumes: saved clips are skipped, submitted jobs are waited for, nothing is submitted twice.',
    )
    .argument('<file>', 'JSON Lines or text file, or - to read it from stdin')
    .option('--concurrency <n>', 'jobs in flight at once; fewer while the service rate-limits (default: 4)')
    .option('--output-dir <dir>', 'where the videos go: <NNN>-<prompt-slug>.mp4, or each line\'s output (default: config output-dir, or .)')
    .option('--shard <i/n>', 'run only slice i of n (a stable split by job, the same on every machine)')
    .option('--max-jobs <n>', 'submit or wait for at most n jobs in this run')
    .addOption(new Option('-a, --aspect-ratio <ratio>', 'aspect ratio of lines that name none: 16:9 or 9:16 (also landscape, portrait)'))
    .option('--timeout <seconds>', 'how long to wait for each job (default: 900); the job keeps running after')
    .option('--poll-interval <seconds>', 'fixed status polling interval (default: adaptive)')
    .option('--force', 'overwrite existing output files')
    .option('--retry-uncertain', 'submit again the jobs an earlier run may or may not have submitted (it died mid-request)')
    .option('--max-cost <n>', 'stop submitting once the cost of the jobs ended plus the estimate for those in flight would pass n (exit 7)')
    .option('--yes', 'do not ask before submitting more than 10 jobs on a terminal')
    .option('--dry-run', 'print each job\'s request, file and plan (submit, wait, skip) as JSON lines, and send nothing')
    .option('--gallery', 'when the batch ends (also when interrupted), write index.html into the output directory: every clip playing beside its prompt (see gallery)')
    .addHelpText(
      'after',
      examples([
        'omni-video batch prompts.txt --output-dir clips/',
        "omni-video batch jobs.jsonl --concurrency 8 | jq -r '.files[0]'",
        'omni-video batch prompts.txt --shard 2/4 --output-dir clips/    # one slice of a CI matrix',
      ]),
    )
    .action(async (input: string, options, command: Command) => {
      const { runBatch } = await import('./commands/batch.js');
      await runBatch(ctx, input, options, await globals(command));
    });

  program
    .command('gallery')
    .summary('write an HTML page showing the clips of a directory')
    .description(
      'Write index.html into the directory: every clip of the job history saved there, and every line of the batch whose state file is there (those never run too), ' +
        "playing side by side with its prompt, status, frame size, length, cost and date; failed jobs with the service's message. " +
        'One self-contained page with relative paths (zip it, upload it, serve it); prints its path. With --json, prints the list instead.',
    )
    .argument('[dir]', 'the directory of the clips (default: the current one)')
    .option('--status <state>', `only jobs in this state, or these (comma-separated): ${GALLERY_STATES.join(', ')} (the API's ${API_STATUS_WORDS} too)`)
    .option('--limit <n>', 'only the n newest (default: all)')
    .addHelpText(
      'after',
      examples([
        'omni-video batch prompts.txt --output-dir clips --gallery    # the page, when the batch ends',
        'omni-video gallery clips',
        'omni-video gallery clips --status failed,cancelled --limit 20',
        "omni-video gallery clips --json | jq -r '.[] | [.state, .task_id, .prompt // \"-\"] | @tsv'",
      ]),
    )
    .action(async (dir: string | undefined, options, command: Command) => {
      const { runGallery } = await import('./commands/gallery.js');
      await runGallery(ctx, dir, options, await globals(command));
    });

  program
    .command('balance')
    .summary('show the remaining balance')
    .description("Remaining and used balance of this API key (or, with --user, of the whole account), in the account's own unit (USD, CNY or tokens): what a job's cost is charged from.")
    .option('--user', 'the whole account instead of this key')
    .addHelpText('after', examples(['omni-video balance', 'omni-video balance --user --json']))
    .action(async (options, command: Command) => {
      const { runBalance } = await import('./commands/balance.js');
      await runBalance(ctx, options, await globals(command));
    });

  const config = program
    .command('config')
    .summary('read and write settings')
    .description(`The config store. Keys: api-key, base-url, output-dir, aspect-ratio, timeout, poll-interval.`)
    .addHelpText('after', examples(['echo "$KEY" | omni-video config set api-key', 'omni-video config set output-dir ~/clips', 'omni-video config list']));
  config
    .command('set')
    .description('Set a key. `config set api-key` with no value reads the key from stdin (a hidden prompt on a terminal).')
    .argument('<key>', 'api-key, base-url, output-dir, aspect-ratio, timeout or poll-interval')
    .argument('[value]')
    .addHelpText('after', examples(['omni-video config set api-key', 'omni-video config set aspect-ratio 9:16', 'omni-video config set base-url http://127.0.0.1:4010/v1']))
    .action(async (key: string, value: string | undefined, _options, command: Command) => (await import('./commands/config.js')).runConfigSet(ctx, key, value, await globals(command)));
  config
    .command('get')
    .description('Print a value (the API key masked). A key that is not set prints nothing on stdout and exits 2, with or without --json.')
    .argument('<key>')
    .addHelpText('after', examples(['omni-video config get api-key', 'omni-video config get output-dir']))
    .action(async (key: string, _options, command: Command) => (await import('./commands/config.js')).runConfigGet(ctx, key, await globals(command)));
  config
    .command('unset')
    .description('Remove a key.')
    .argument('<key>')
    .addHelpText('after', examples(['omni-video config unset output-dir', 'omni-video config unset api-key']))
    .action(async (key: string, _options, command: Command) => (await import('./commands/config.js')).runConfigUnset(ctx, key, await globals(command)));
  config
    .command('list')
    .description('Print every key set (the API key masked) and which key source is in effect.')
    .addHelpText('after', examples(['omni-video config list', 'omni-video config list --json']))
    .action(async (_options, command: Command) => (await import('./commands/config.js')).runConfigList(ctx, await globals(command)));
  config
    .command('path')
    .description('Print the config file path.')
    .addHelpText('after', examples(['omni-video config path', 'ls -l "$(omni-video config path)"']))
    .action(async (_options, command: Command) => (await import('./commands/config.js')).runConfigPath(ctx, await globals(command)));

  const sandbox = program
    .command('sandbox')
    .summary('run a local simulator of the API')
    .description('A local simulator of the whole API, for trying omni-video and testing scripts without a key or credits. Prints its base URL on stdout; logs requests on stderr only with --verbose.')
    .addHelpText('after', examples([...sandboxExamples]));
  const flagValues = declareSandboxFlags(sandbox);
  sandbox.action(async (_options, command: Command) => {
    const { runSandbox } = await import('./sandbox/run.js');
    await runSandbox(flagValues(), ctx.io, ctx.signal, await globals(command));
  });

  program
    .command('completion')
    .summary('print a shell completion script')
    .description('Print a completion script for bash, zsh or fish: commands, options, and the values of --aspect-ratio, --resolution and --status (jobs, gallery).')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples([
        'source <(omni-video completion bash)        # this shell only',
        'mkdir -p ~/.local/share/bash-completion/completions && omni-video completion bash > ~/.local/share/bash-completion/completions/omni-video',
        'mkdir -p ~/.zfunc && omni-video completion zsh > ~/.zfunc/_omni-video  # ~/.zshrc: fpath=(~/.zfunc $fpath) before compinit',
        'mkdir -p ~/.config/fish/completions && omni-video completion fish > ~/.config/fish/completions/omni-video.fish',
      ]),
    )
    .action(async (shell: 'bash' | 'zsh' | 'fish') => {
      const { runCompletion } = await import('./commands/completion.js');
      runCompletion(ctx, shell, program);
    });

  program
    .command('doctor')
    .summary('check the setup: Node, config, key, network, proxy, output directory')
    .description('Check what omni-video depends on, one line per check, with the fix for each problem. Exits 3 when a check fails.')
    .addHelpText('after', examples(['omni-video doctor', 'omni-video doctor --json', 'omni-video doctor --base-url http://127.0.0.1:4010/v1']))
    .action(async (_options, command: Command) => {
      const { runDoctor } = await import('./commands/doctor.js');
      await runDoctor(ctx, await globals(command));
    });

  return program;
}

/** Exit codes of product.md, by error class. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof errors.IncompleteRunError) return exitCodeFor(error.cause);
  if (error instanceof errors.InterruptedError) return error.signalName === 'SIGINT' ? 130 : 143;
  if (error instanceof errors.InsufficientBalanceError) return 7;
  if (error instanceof errors.WaitTimeoutError) return 5;
  if (error instanceof errors.JobFailedError || error instanceof errors.JobsFailedError || error instanceof errors.LinkExpiredError) return 4;
  if (error instanceof errors.AuthenticationError || error instanceof errors.ConfigurationError || error instanceof errors.ProxyAuthenticationError) return 3;
  if (
    error instanceof errors.InvalidRequestError ||
    error instanceof errors.BadRequestError ||
    error instanceof errors.TaskNotFoundError ||
    error instanceof errors.TaskNotReadyError
  ) {
    return 2;
  }
  if (error instanceof errors.OmniVideoError) return 6;
  return 1;
}

/** Runs one command line in-process; returns the exit code. Never exits the process. */
export async function runCli(argv: string[], ctx: Context): Promise<number> {
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return 2;
    }
    const code = exitCodeFor(error);
    const verbose = argv.includes('--verbose');
    const [{ alreadyReported, stopLiveLines }, { colorsFor }] = await Promise.all([import('./io/progress.js'), import('./io/colors.js')]);
    // Whatever path the error took, no spinner frame stays above its message.
    stopLiveLines();
    const colors = colorsFor(ctx.io);
    if (code === 1) {
      ctx.io.stderr.write(`${colors.red('✖')} Unexpected error: ${(error as Error)?.message ?? String(error)}\n`);
      ctx.io.stderr.write(`  This is a bug in omni-video ${VERSION}; please report it with the output of --verbose.\n`);
    } else {
      const { message, hint } = error as { message: string; hint?: string };
      if (!alreadyReported(message)) ctx.io.stderr.write(`${colors.red('✖')} ${message}\n`);
      if (hint) ctx.io.stderr.write(`  ${hint}\n`);
    }
    if (verbose && error instanceof Error && error.stack) ctx.io.stderr.write(`${colors.dim(error.stack)}\n`);
    return code;
  }
}

/** The real process: its streams, environment and signals. */
export async function start(): Promise<void> {
  const controller = new AbortController();
  const io = processIO(process.env);
  let interrupts = 0;
  const onSignal = (name: 'SIGINT' | 'SIGTERM') => () => {
    interrupts += 1;
    // A second Ctrl-C means now.
    if (interrupts > 1) process.exit(name === 'SIGINT' ? 130 : 143);
    // The terminal echoed ^C where the next line starts: back to its start, so the message covers it.
    if (name === 'SIGINT' && io.stderrIsTTY) io.stderr.write('\r');
    controller.abort(new errors.InterruptedError(name));
  };
  process.on('SIGINT', onSignal('SIGINT'));
  process.on('SIGTERM', onSignal('SIGTERM'));
  // A reader that went away (`omni-video jobs | head -1`) is not an error: stop quietly, as
  // cat and git do. Jobs already submitted are in the history.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  process.stderr.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const ctx: Context = {
    io,
    env: process.env,
    clock: systemClock,
    cwd: process.cwd(),
    configDir: defaultConfigDir(process.env),
    signal: controller.signal,
    createClient: async (options) => new (await import('./api/client.js')).OmniVideoClient({ userAgent: `omni-video/${VERSION}`, ...options }),
  };
  process.exitCode = await runCli(process.argv.slice(2), ctx);
}
