import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The lowest port the kernel picks by itself: for a bind to port 0 (every sandbox and server of the
 * suite) and as the local port of an outgoing connection.
 */
function ephemeralFloor(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32_768;
  } catch {
    return 32_768;
  }
}

const LOWEST = 10_000;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port free on 127.0.0.1 now, for what must be given a fixed port (`sandbox --port`, the
 * README's 4010, a port that must refuse). Chosen at random below the kernel's ephemeral range,
 * never by binding port 0: a port the kernel just handed out and took back is the one it may hand
 * to the next process binding port 0 (on a loaded machine, some other test's server) before ours
 * binds it.
 */
export async function freePort(): Promise<number> {
  const highest = Math.max(ephemeralFloor(), LOWEST + 1_000) - 1;
  for (let tries = 0; tries < 50; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${LOWEST} and ${highest}`);
}

/**
 * Runs `use` on a free port; if another process bound that port first (an error naming
 * EADDRINUSE or "port already in use"), once more on another, up to three times in all.
 */
export async function onFreePort<T>(use: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await use(await freePort());
    } catch (error) {
      if (attempt >= 3 || !/EADDRINUSE|port already in use/.test(String((error as Error)?.message ?? error))) throw error;
    }
  }
}
