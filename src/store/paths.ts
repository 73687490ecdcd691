import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The platform's config directory, unless OMNI_VIDEO_CONFIG_DIR says otherwise. Kept apart from
 * config.ts so that start-up can find it without loading zod.
 */
export function defaultConfigDir(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (env.OMNI_VIDEO_CONFIG_DIR) return env.OMNI_VIDEO_CONFIG_DIR;
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'omni-video', 'Config');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Preferences', 'omni-video');
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'omni-video');
}
