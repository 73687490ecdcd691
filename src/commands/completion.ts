import type { Command, Option } from 'commander';
import type { Context } from '../context.js';
import { GALLERY_STATES, JOB_STATES } from '../io/job-states.js';
import { CONFIG_KEYS } from '../store/config.js';
import { ASPECT_RATIO_WORDS } from '../values.js';

export type Shell = 'bash' | 'zsh' | 'fish';

/**
 * Values offered after an option, where commander's choices do not list them all: the words the
 * command checks the value against, so a new word is offered where it is accepted.
 */
function optionValues(commandPath: string, long: string): readonly string[] | undefined {
  if (long === '--aspect-ratio') return Object.keys(ASPECT_RATIO_WORDS);
  if (long === '--status') return commandPath === 'gallery' ? GALLERY_STATES : JOB_STATES;
  return undefined;
}
/** Options whose value is a path: the shell completes file names. */
const PATH_OPTIONS = new Set(['--output', '--video', '--output-dir']);

interface OptionSpec {
  names: string[];
  description: string;
  takesValue: boolean;
  values: readonly string[];
  path: boolean;
}

interface CommandSpec {
  /** 'generate', or 'config set' for a subcommand. */
  path: string;
  summary: string;
  options: OptionSpec[];
  subcommands: CommandSpec[];
  /** Words for the positional arguments (choices, config keys), or 'files'. */
  argumentValues: readonly string[] | 'files';
}

const HELP: OptionSpec = { names: ['-h', '--help'], description: 'show help', takesValue: false, values: [], path: false };

function optionSpec(option: Option, commandPath = ''): OptionSpec {
  const long = option.long ?? '';
  return {
    names: [option.short, option.long].filter((name): name is string => Boolean(name)),
    description: option.description,
    takesValue: option.required || option.optional,
    values: optionValues(commandPath, long) ?? option.argChoices ?? [],
    path: PATH_OPTIONS.has(long),
  };
}

function argumentValues(command: Command, path: string): readonly string[] | 'files' {
  if (/^config (set|get|unset)$/.test(path)) return CONFIG_KEYS;
  const [first] = command.registeredArguments;
  if (first?.argChoices) return first.argChoices;
  return first && /file/i.test(first.name()) ? 'files' : [];
}

/** What the completion scripts offer, read from the declared program so new commands appear by themselves. */
function describeCommand(command: Command, parentPath = ''): CommandSpec {
  const path = parentPath ? `${parentPath} ${command.name()}` : command.name();
  return {
    path,
    summary: command.summary() || command.description(),
    options: [...command.options.filter((option) => !option.hidden).map((option) => optionSpec(option, path)), HELP],
    subcommands: command.commands.map((sub) => describeCommand(sub, path)),
    argumentValues: argumentValues(command, path),
  };
}

function allCommands(commands: CommandSpec[]): CommandSpec[] {
  return commands.flatMap((command) => [command, ...allCommands(command.subcommands)]);
}

interface Model {
  globals: OptionSpec[];
  commands: CommandSpec[];
  /** Every option, global or not, once per name. */
  allOptions: OptionSpec[];
}

function model(program: Command): Model {
  const globals = [...program.options.map((option) => optionSpec(option)), HELP];
  const commands = program.commands.map((command) => describeCommand(command));
  const seen = new Set<string>();
  const allOptions = [...globals, ...allCommands(commands).flatMap((command) => command.options)].filter((option) => {
    const key = option.names.join(' ');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { globals, commands, allOptions };
}

const words = (list: readonly string[]) => list.join(' ');
const names = (options: OptionSpec[]) => words(options.flatMap((option) => option.names));

/**
 * The `case $prev` lines of the options that offer values: `offer(values)` once per option name,
 * or, where commands give the same name other values (jobs and gallery --status), a `case` on
 * the command path typed (`pathVariable`).
 */
function valueCases({ globals, commands }: Model, pathVariable: string, offer: (values: readonly string[]) => string): [string, string][] {
  const byNames = new Map<string, Map<string, readonly string[]>>();
  const owners: [string, OptionSpec[]][] = [['', globals], ...allCommands(commands).map((command): [string, OptionSpec[]] => [command.path, command.options])];
  for (const [path, options] of owners) {
    for (const option of options.filter((candidate) => candidate.values.length)) {
      const key = option.names.join('|');
      byNames.set(key, (byNames.get(key) ?? new Map<string, readonly string[]>()).set(path, option.values));
    }
  }
  return [...byNames].map(([pattern, byPath]): [string, string] => {
    const lists = [...byPath.values()];
    if (lists.every((values) => words(values) === words(lists[0]!))) return [pattern, offer(lists[0]!)];
    return [pattern, `case "${pathVariable}" in ${[...byPath].map(([path, values]) => `"${path}") ${offer(values)} ;;`).join(' ')} esac`];
  });
}

function bashScript(described: Model): string {
  const { globals, commands, allOptions } = described;
  const valueTakers = allOptions.filter((option) => option.takesValue);
  const paths = valueTakers.filter((option) => option.path);
  const caseLines = (entries: [string, string][]) => entries.map(([pattern, body]) => `    ${pattern}) ${body} ;;`).join('\n');
  const everyCommand = allCommands(commands);
  return `# bash completion for omni-video. Load it with: source <(omni-video completion bash)
_omni_video() {
  local cur prev words cword
  if declare -F _get_comp_words_by_ref >/dev/null; then
    # bash-completion: keep 16:9 one word although ':' breaks words in bash
    _get_comp_words_by_ref -n : cur prev words cword
  else
    words=("\${COMP_WORDS[@]}")
    cword=$COMP_CWORD
    cur=\${COMP_WORDS[COMP_CWORD]}
    prev=\${COMP_WORDS[COMP_CWORD-1]}
  fi

  # The command (and subcommand) typed so far: words that are neither options nor their values.
  local i path="" word
  for ((i = 1; i < cword; i++)); do
    word=\${words[i]}
    case $word in
      ${valueTakers.flatMap((option) => option.names).join('|')}) ((i++)) ;;
      -*) ;;
      *)
        case "$path" in
${caseLines([
  ['""', 'path=$word'],
  ...everyCommand.filter((command) => command.subcommands.length > 0).map((command): [string, string] => [`"${command.path}"`, 'path="$path $word"']),
  ['*', 'break'],
]).replace(/^/gm, '    ')}
        esac
        ;;
    esac
  done

  local reply=""
  case $prev in
${caseLines([
  ...valueCases(described, '$path', (values) => `reply="${words(values)}"`),
  ...(paths.length ? [[paths.flatMap((option) => option.names).join('|'), 'COMPREPLY=($(compgen -f -- "$cur")); return'] as [string, string]] : []),
  ...(valueTakers.length ? [[valueTakers.flatMap((option) => option.names).join('|'), 'return'] as [string, string]] : []),
])}
  esac
  if [[ -z $reply ]]; then
    if [[ $cur == -* ]]; then
      case "$path" in
${caseLines([['""', `reply="${names(globals)}"`], ...everyCommand.map((command): [string, string] => [`"${command.path}"`, `reply="${names(command.options)} ${names(globals)}"`])]).replace(/^/gm, '    ')}
      esac
    else
      case "$path" in
${caseLines([
  ['""', `reply="${words(commands.map((command) => command.path))} help"`],
  ...everyCommand.flatMap((command): [string, string][] => {
    if (command.subcommands.length) return [[`"${command.path}"`, `reply="${words(command.subcommands.map((sub) => sub.path.split(' ').pop() ?? ''))}"`]];
    if (command.argumentValues === 'files') return [[`"${command.path}"`, 'COMPREPLY=($(compgen -f -- "$cur")); return']];
    if (command.argumentValues.length) return [[`"${command.path}"`, `reply="${words(command.argumentValues)}"`]];
    return [];
  }),
]).replace(/^/gm, '    ')}
      esac
    fi
  fi
  COMPREPLY=($(compgen -W "$reply" -- "$cur"))
  if declare -F __ltrim_colon_completions >/dev/null; then __ltrim_colon_completions "$cur"; fi
}
complete -F _omni_video omni-video
`;
}

/** zsh _describe entries: `name:description`, colons in the name escaped. */
function describeEntries(entries: [string, string][]): string {
  return entries.map(([name, description]) => `'${`${name.replace(/:/g, '\\:')}:${description}`.replace(/'/g, `'\\''`)}'`).join(' ');
}

function zshScript(described: Model): string {
  const { globals, commands, allOptions } = described;
  const valueTakers = allOptions.filter((option) => option.takesValue);
  const optionEntries = (options: OptionSpec[]) => describeEntries(options.flatMap((option) => option.names.map((name): [string, string] => [name, option.description])));
  const everyCommand = allCommands(commands);
  const caseLines = (entries: [string, string][]) => entries.map(([pattern, body]) => `    ${pattern}) ${body} ;;`).join('\n');
  return `#compdef omni-video
# zsh completion for omni-video. Install: mkdir -p ~/.zfunc && omni-video completion zsh > ~/.zfunc/_omni-video
# and in ~/.zshrc, before compinit: fpath=(~/.zfunc \$fpath)
_omni_video() {
  local -a entries
  # Not path: in zsh that is \$PATH as an array, and emptying it breaks every command completion runs.
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]} command_path="" word i
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    case $word in
      ${valueTakers.flatMap((option) => option.names).join('|')}) ((i++)) ;;
      -*) ;;
      *)
        case "$command_path" in
          "") command_path=$word ;;
${everyCommand.filter((command) => command.subcommands.length > 0).map((command) => `          "${command.path}") command_path="$command_path $word" ;;`).join('\n')}
          *) break ;;
        esac
        ;;
    esac
  done

  case $prev in
${caseLines([
  ...valueCases(described, '$command_path', (values) => `compadd -- ${words(values)}; return`),
  ...valueTakers.filter((option) => option.path).map((option): [string, string] => [option.names.join('|'), '_files; return']),
  [valueTakers.flatMap((option) => option.names).join('|'), 'return'],
])}
  esac
  if [[ $cur == -* ]]; then
    case "$command_path" in
${caseLines([['""', `entries=(${optionEntries(globals)})`], ...everyCommand.map((command): [string, string] => [`"${command.path}"`, `entries=(${optionEntries([...command.options, ...globals])})`])])}
    esac
    _describe 'option' entries
    return
  fi
  case "$command_path" in
${caseLines([
  ['""', `entries=(${describeEntries([...commands.map((command): [string, string] => [command.path, command.summary]), ['help', 'show help for a command']])}); _describe 'command' entries`],
  ...everyCommand.flatMap((command): [string, string][] => {
    if (command.subcommands.length) {
      return [[`"${command.path}"`, `entries=(${describeEntries(command.subcommands.map((sub): [string, string] => [sub.path.split(' ').pop() ?? '', sub.summary]))}); _describe 'command' entries`]];
    }
    if (command.argumentValues === 'files') return [[`"${command.path}"`, '_files']];
    if (command.argumentValues.length) return [[`"${command.path}"`, `compadd -- ${words(command.argumentValues)}`]];
    return [];
  }),
])}
  esac
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _omni_video "$@"
else
  compdef _omni_video omni-video
fi
`;
}

const fishQuote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishOption(option: OptionSpec, condition: string | undefined): string {
  const parts = ['complete -c omni-video'];
  if (condition) parts.push(`-n ${fishQuote(condition)}`);
  for (const name of option.names) parts.push(name.startsWith('--') ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`);
  if (option.values.length) parts.push(`-x -a ${fishQuote(words(option.values))}`);
  else if (option.path) parts.push('-r -F');
  else if (option.takesValue) parts.push('-x');
  parts.push(`-d ${fishQuote(option.description)}`);
  return parts.join(' ');
}

function fishScript({ globals, commands }: Model): string {
  const lines = ['# fish completion for omni-video. Install: mkdir -p ~/.config/fish/completions && omni-video completion fish > ~/.config/fish/completions/omni-video.fish', 'complete -c omni-video -f'];
  const top = words(commands.map((command) => command.path));
  for (const option of globals) lines.push(fishOption(option, undefined));
  for (const command of commands) lines.push(`complete -c omni-video -n ${fishQuote(`not __fish_seen_subcommand_from ${top}`)} -a ${command.path} -d ${fishQuote(command.summary)}`);
  for (const command of commands) {
    const inCommand = `__fish_seen_subcommand_from ${command.path}`;
    for (const option of command.options) lines.push(fishOption(option, inCommand));
    const subs = command.subcommands.map((sub) => sub.path.split(' ').pop() ?? '');
    for (const sub of command.subcommands) {
      const name = sub.path.split(' ').pop() ?? '';
      lines.push(`complete -c omni-video -n ${fishQuote(`${inCommand}; and not __fish_seen_subcommand_from ${words(subs)}`)} -a ${name} -d ${fishQuote(sub.summary)}`);
      if (Array.isArray(sub.argumentValues) && sub.argumentValues.length) {
        lines.push(`complete -c omni-video -n ${fishQuote(`${inCommand}; and __fish_seen_subcommand_from ${name}`)} -a ${fishQuote(words(sub.argumentValues))}`);
      }
    }
    if (command.argumentValues === 'files') lines.push(`complete -c omni-video -n ${fishQuote(inCommand)} -F`);
    else if (command.argumentValues.length) lines.push(`complete -c omni-video -n ${fishQuote(inCommand)} -a ${fishQuote(words(command.argumentValues))}`);
  }
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: Shell, program: Command): string {
  const described = model(program);
  if (shell === 'bash') return bashScript(described);
  if (shell === 'zsh') return zshScript(described);
  return fishScript(described);
}

/** Prints the script on stdout, to be sourced or saved where the shell looks for completions. */
export function runCompletion(ctx: Context, shell: Shell, program: Command): void {
  ctx.io.stdout.write(completionScript(shell, program));
}
