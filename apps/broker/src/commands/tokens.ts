// `sluice token create|renew|expire|describe`: delegation tokens (KIP-48) with the options of Kafka's
// kafka-delegation-tokens (--max-life-time-period, --renewer-principal, --renew-time-period,
// --expiry-time-period, --hmac, --owner-principal).

import type { DelegationToken } from '@sluice/client';
import type { Command } from 'commander';
import { type ClientFlags, parseSigned, runAction, withAdmin, withBootstrap } from './common.js';

const collect = (value: string, previous: string[]) => [...previous, value];

function printTokens(tokens: readonly DelegationToken[]): void {
  const date = (ms: number) => new Date(ms).toISOString();
  for (const t of tokens) {
    process.stdout.write(
      `${t.tokenId} hmac=${t.hmac.toString('base64')} owner=${t.owner} requester=${t.requester} renewers=[${t.renewers.join(',')}] issued=${date(t.issueTimestampMs)} expires=${date(t.expiryTimestampMs)} max=${date(t.maxTimestampMs)}\n`,
    );
  }
}

export function registerTokenCommands(program: Command): void {
  const token = program
    .command('token')
    .description('Create, renew, expire and describe delegation tokens (needs delegation.token.secret.key)');
  withBootstrap(token.command('create').description('Create a token for the logged-in user (or --owner-principal)'))
    .option('--max-life-time-period <ms>', 'maximum lifetime; -1: the broker maximum', parseSigned, -1)
    .option('--renewer-principal <principal>', 'a principal that may renew it (User:name); repeatable', collect, [])
    .option('--owner-principal <principal>', 'make it for another user (needs CREATE_TOKENS on that user)')
    .action((flags: ClientFlags & { maxLifeTimePeriod: number; renewerPrincipal: string[]; ownerPrincipal?: string }) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          const t = await admin.createDelegationToken({
            maxLifetimeMs: flags.maxLifeTimePeriod,
            renewers: flags.renewerPrincipal,
            ...(flags.ownerPrincipal === undefined ? {} : { owner: flags.ownerPrincipal }),
          });
          printTokens([t]);
        }),
      ),
    );
  withBootstrap(token.command('renew').description('Renew a token by its hmac'))
    .requiredOption('--hmac <base64>', "the token's hmac")
    .option('--renew-time-period <ms>', 'how long from now; -1: delegation.token.expiry.time.ms', parseSigned, -1)
    .action((flags: ClientFlags & { hmac: string; renewTimePeriod: number }) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          const expiry = await admin.renewDelegationToken(Buffer.from(flags.hmac, 'base64'), flags.renewTimePeriod);
          process.stdout.write(`expires=${new Date(expiry).toISOString()}\n`);
        }),
      ),
    );
  withBootstrap(token.command('expire').description('Expire a token by its hmac'))
    .requiredOption('--hmac <base64>', "the token's hmac")
    .option('--expiry-time-period <ms>', 'how long from now; -1: now (the token is removed)', parseSigned, -1)
    .action((flags: ClientFlags & { hmac: string; expiryTimePeriod: number }) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          const expiry = await admin.expireDelegationToken(Buffer.from(flags.hmac, 'base64'), flags.expiryTimePeriod);
          process.stdout.write(`expires=${new Date(expiry).toISOString()}\n`);
        }),
      ),
    );
  withBootstrap(token.command('describe').description('The tokens you may see (all owners without --owner-principal)'))
    .option('--owner-principal <principal>', 'tokens of this owner or renewer (User:name); repeatable', collect, [])
    .action((flags: ClientFlags & { ownerPrincipal: string[] }) =>
      runAction(() =>
        withAdmin(flags, async (admin) => {
          printTokens(
            await admin.describeDelegationTokens(flags.ownerPrincipal.length ? flags.ownerPrincipal : undefined),
          );
        }),
      ),
    );
}
