import type { Context } from '../context.js';
import { createApiClient, writeJson, type GlobalOptions } from './shared.js';

export async function runBalance(ctx: Context, flags: { user?: boolean }, globals: GlobalOptions): Promise<void> {
  const { client } = await createApiClient(ctx, globals);
  const balance = await client.balance({ user: Boolean(flags.user), signal: ctx.signal });
  if (globals.json) {
    writeJson(ctx, { scope: flags.user ? 'account' : 'key', ...balance });
    return;
  }
  // "Balance", as the API names it: in the account's own unit (USD, CNY or tokens), what a job's
  // `cost` is charged from; credits (`credits_cost`) are another count.
  const remain = balance.unlimited_quota ? 'unlimited' : String(balance.remain_balance);
  ctx.io.stdout.write(`remaining balance ${remain}\nused balance ${balance.used_balance}\n`);
}
