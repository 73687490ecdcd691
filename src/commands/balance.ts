import type { Context } from '../context.js';
import { createApiClient, writeJson, type GlobalOptions } from './shared.js';

export async function runBalance(ctx: Context, flags: { user?: boolean }, globals: GlobalOptions): Promise<void> {
  const { client } = await createApiClient(ctx, globals);
  const balance = await client.balance({ user: Boolean(flags.user), signal: ctx.signal });
  if (globals.json) {
    writeJson(ctx, { scope: flags.user ? 'account' : 'key', ...balance });
    return;
  }
  const remain = balance.unlimited_quota ? 'unlimited' : String(balance.remain_balance);
  ctx.io.stdout.write(`remaining ${remain}\nused ${balance.used_balance}\n`);
}
